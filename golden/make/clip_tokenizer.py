"""Reference CLIP tokenizer: open_clip_torch's own tokenizer.py, loaded straight from its wheel.

run.sh downloads the pinned wheel (no dependencies) and extracts open_clip/tokenizer.py and the
BPE vocabulary to golden/make/.venv/open_clip/; importing the module file directly avoids
importing the whole open_clip package (timm, huggingface_hub, ...).
"""
import importlib.util
import os

import numpy as np

OPEN_CLIP_VERSION = "2.26.1"
WHEEL = f"open_clip_torch-{OPEN_CLIP_VERSION}-py3-none-any.whl"
HERE = os.path.dirname(os.path.abspath(__file__))
EXTRACTED = os.path.join(HERE, ".venv", "open_clip", "open_clip")

_module = None


def module():
    global _module
    if _module is None:
        spec = importlib.util.spec_from_file_location("open_clip_tokenizer", os.path.join(EXTRACTED, "tokenizer.py"))
        _module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_module)
    return _module


def vocab_path():
    return os.path.join(EXTRACTED, "bpe_simple_vocab_16e6.txt.gz")


def tokenize(labels):
    """int64 [N, 77] ids, via open_clip.tokenize (SOT 49406, EOT 49407, truncation keeps EOT)."""
    return module().tokenize(list(labels)).numpy().astype(np.int64)
