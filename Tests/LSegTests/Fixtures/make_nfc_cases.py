#!/usr/bin/env python3
"""Writes nfc_cases.json: strings whose NFC (Python's unicodedata) exercises every rule of canonical
composition (Hangul syllables, composition exclusions, singletons, mark reordering, blocking),
for TextCleaningTests.testCanonicalCompositionMatchesPython."""
import json, random, unicodedata
from pathlib import Path

cases = [
    "e\u0301", "E\u0300\u0323", "a\u0323\u0302", "a\u0302\u0323", "\u1100\u1161", "\u1100\u1161\u11a8",
    "\uac00\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af", "\u0958", "\u212b", "\u2126", "A\u030a",
    "\u0041\u0300\u0300", "o\u031b\u0301", "\u0061\u05ae\u0300\u0315\u0062", "\u00e9", "caf\u00e9 cafe\u0301",
    "\u0915\u093c", "\u0dd9\u0dcf\u0dca", "\u1e9b\u0323", "\u0390", "\u03b9\u0308\u0301", "\u304b\u3099",
    "\u30cf\u309a", "\u0344", "\u0f73", "\u2adc", "\U0001d15e", "\u00c5\u0301", "s\u0323\u0307", "s\u0307\u0323",
    # Hangul cases swift-corelibs-foundation composes wrongly: old jamo L + V, LV + T.
    "\u1113\u1161", "\uac00\u11a8", "\uac1c\u11a8", "\uac38\u11a8", "\uac54\u11a8", "\ud7a3\u11a8", "\u1112\u1175\u11c2",
]
rng = random.Random(7)
marks = [0x0300, 0x0301, 0x0302, 0x0303, 0x0308, 0x030a, 0x030c, 0x0323, 0x0327, 0x0328, 0x031b, 0x0345, 0x05ae, 0x093c]
bases = list("aeiouAEIOUcnsyzCNSYZ") + ["\u03b1", "\u03b7", "\u03c9", "\u0438", "\u0435", "\u1100", "\u1161", "\u11a8", "\uac00"]
for _ in range(300):
    s = ""
    for _ in range(rng.randint(1, 6)):
        s += rng.choice(bases) + "".join(chr(rng.choice(marks)) for _ in range(rng.randint(0, 3)))
    cases.append(s)
out = [{"text": s, "nfc": unicodedata.normalize("NFC", s)} for s in cases]
path = Path(__file__).with_name("nfc_cases.json")
path.write_text(json.dumps({"unicode": unicodedata.unidata_version, "cases": out}, ensure_ascii=True, indent=0) + "\n")
