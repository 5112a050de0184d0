"""Shared pieces of the benchmark scripts: paths, the Python that has onnxruntime, child-process
timing with peak RSS, and table printing. Benchmarks never run in CI."""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL = os.path.join(ROOT, "golden", "full")
OUT = os.path.join(ROOT, "bench", "out")
BIN = os.path.join(ROOT, ".build", "release")
VOCAB = os.path.join(ROOT, "golden", "vocab", "bpe_simple_vocab_16e6.txt.gz")


def build_release():
    subprocess.run([os.path.join(ROOT, "scripts", "install-deps")], check=True)
    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True)


def tool(name):
    return os.path.join(BIN, name)


def run_measured(cmd, **kw):
    """Runs cmd; returns (seconds, peak RSS bytes of that child, stdout).
    The peak comes from /usr/bin/time when present: Linux carries a forked child's RSS high-water
    mark over from its parent across exec, so wait4's ru_maxrss of a child started by a large
    Python process (one that loaded ONNX Runtime sessions) reports the parent's size."""
    rss_file, shown = None, " ".join(cmd)
    if os.path.exists("/usr/bin/time"):
        fd, rss_file = tempfile.mkstemp(prefix="maxrss-")
        os.close(fd)
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + list(cmd)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    seconds = time.monotonic() - t0
    out = p.stdout.read()
    err = p.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    peak = ru.ru_maxrss * 1024
    if rss_file:
        with open(rss_file) as f:
            text = f.read().split()
        os.remove(rss_file)
        if text and text[-1].isdigit():
            peak = int(text[-1]) * 1024
    if code != 0:
        sys.exit(f"{shown} failed ({code}):\n{err}")
    return seconds, peak, out


def onnx_bytes(path):
    """Size of an ONNX file plus its external data files, if any."""
    total = os.path.getsize(path)
    folder = os.path.dirname(path)
    stem = os.path.basename(path)
    for f in os.listdir(folder):
        if f.startswith(stem) and f != stem:
            total += os.path.getsize(os.path.join(folder, f))
    return total


def need(path, hint):
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: {hint}")


def table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
