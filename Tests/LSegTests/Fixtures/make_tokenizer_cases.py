"""Reference token ids from open_clip's SimpleTokenizer for the Swift tokenizer tests.

Usage: python make_tokenizer_cases.py /path/to/open_clip > tokenizer_cases.json
open_clip's tokenizer imports torch only to build the output tensor; a tiny numpy-backed stand-in
is installed so the reference does not need a torch install. Needs: numpy, ftfy, regex.
"""
import json
import sys
import types

import numpy as np

fake_torch = types.ModuleType("torch")
fake_torch.long = np.int64
fake_torch.LongTensor = np.ndarray
fake_torch.Tensor = np.ndarray
fake_torch.zeros = lambda *shape, dtype=None: np.zeros(shape, dtype=dtype)
fake_torch.tensor = lambda values, dtype=None: np.array(values, dtype=dtype)
sys.modules["torch"] = fake_torch

# Load tokenizer.py on its own: the package's __init__ pulls in the models (and real torch).
import importlib.util  # noqa: E402
spec = importlib.util.spec_from_file_location("oc_tokenizer", sys.argv[1] + "/tokenizer.py")
oc_tokenizer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oc_tokenizer)
SimpleTokenizer = oc_tokenizer.SimpleTokenizer

TEXTS = [
    "",
    "a photo of a cat",
    "dog",
    "Hello, World!",
    "UPPER case MiXeD",
    "   multiple    spaces\tand\ttabs\nnewline  ",
    "it's a dog's life, isn't it? we're they've I'm you'll he'd",
    "IT'S LOUD",
    "tom&amp;jerry &lt;b&gt; &quot;quoted&quot; &#39;apos&#39; &#x41;&#66;",
    "double escaped &amp;amp; stays single",
    "numbers 1234567890 and 3.14159",
    "café naïve résumé façade",
    "straße über Ærøskøbing",
    "emoji 😀 party 🎉🎉 family 👨‍👩‍👧",
    "日本語のテキスト 中文 한국어",
    "punctuation!!! ??? ... --- ((nested)) [brackets] {braces}",
    "a-b_c/d\\e|f@g#h$i%j^k*l+m=n~o`p",
    "email@example.com https://example.com/path?q=1",
    "tree, sky, road, car, building, person, grass",
    "Ελληνικά кириллица עברית العربية",
    "½ ² ③ Ⅻ",
    "curly ‘quotes’ and “double” quotes",
    "ligature ﬁne ﬂow",
    "fullwidth ＡＢＣ１２３",
    "tab\tseparated\x0bvertical\x0cformfeed",
    "x" * 300,
    " ".join(["word"] * 100),
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "'s 't 're 've 'm 'll 'd ''' 's's",
    "non-breaking\u00a0space and\u2003em space",
    "combining e\u0301 accent",
    "a" + "\u200b" + "b zero width",
]

tok = SimpleTokenizer()
cases = []
for t in TEXTS:
    ids = tok([t], context_length=77)[0].tolist()
    cases.append({"text": t, "ids": [int(i) for i in ids]})
# One case a line, so a diff shows which text changed.
print("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]")
