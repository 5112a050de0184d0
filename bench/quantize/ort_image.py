#!/usr/bin/env python3
"""Image graph only (never in CI): ONNX Runtime fp32 and static int8 (quantize_static, QDQ, per
channel, uint8 activations, calibrated on the same photos) against our fp32 and int8 packs, each
in its own process: median latency and peak RSS, plus the logit cosine of each int8 model against
its own fp32 on one photo (fixed random text features, N = 3). Issue 8 asks for ours int8 <= 0.6x ORT int8 latency
at equal or better cosine, and ours int8 RSS <= 0.35x ORT's fp32 process.

Usage: python bench/quantize/ort_image.py --fp32-pack P --int8-pack Q [--config vitb32] [--threads 2] [--rounds 3]"""
import argparse, json, os, statistics, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, HERE)
from common import run_measured  # noqa: E402
from bench import images_under, load_image  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="vitb32")
    p.add_argument("--fp32-pack", required=True)
    p.add_argument("--int8-pack", required=True)
    p.add_argument("--calib", default="golden/photos")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--bin", default=".build/release")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ort-int8", help="reuse (or keep) ORT's quantized image graph at this path")
    a = p.parse_args()
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    src = os.path.join(ROOT, "golden", "full", "models", a.config, "image.onnx")
    photos = images_under(os.path.join(ROOT, a.calib))[: a.samples]
    calib = [t for t in (load_image(f, 384) for f in photos) if t is not None]
    work = tempfile.mkdtemp(prefix="ort-image-")
    q8 = a.ort_int8 or os.path.join(work, "image-int8.onnx")
    # The image graph also takes the text features (N x 512, unit rows): fixed random ones, N = 3.
    rng = np.random.default_rng(1)
    text = rng.uniform(-1, 1, (3, 512)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    names = [i.name for i in ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()]
    feeds = lambda x: {n: (x if n == "image" else text) for n in names}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([feeds(c) for c in calib])
        def get_next(self):
            return next(self.items, None)

    if not os.path.exists(q8):
        quantize_static(src, q8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    child = os.path.join(ROOT, "bench", "ort_child.py")
    bench = os.path.join(ROOT, a.bin, "lseg-bench")
    # The four processes alternate, --rounds times: the machine's speed drifts between minutes, so
    # each ratio is the median of its rounds' ratios (processes run side by side in time).
    runs = {k: [] for k in ("ort_fp32", "ort_int8", "ours_fp32", "ours_int8")}
    for _ in range(max(1, a.rounds)):
        for key, model in [("ort_int8", q8), ("ort_fp32", src)]:
            spec = {"model": model, "threads": a.threads, "labels": 3, "height": 384, "width": 384, "runs": a.runs, "warmup": 1}
            _, rss, out = run_measured([sys.executable, child, json.dumps(spec)])
            runs[key].append((json.loads(out)["median_ms"], rss / 1e6))
        for key, pack in [("ours_int8", a.int8_pack), ("ours_fp32", a.fp32_pack)]:
            _, rss, out = run_measured([bench, pack, "--graph", "image", "--labels", "3", "--size", "384x384",
                                        "--runs", str(a.runs), "--threads", str(a.threads), "--json"])
            runs[key].append((json.loads(out)["graphs"][0]["median_ms"], rss / 1e6))
    res = {k: {"median_ms": statistics.median(t for t, _ in v), "peak_rss_mb": max(r for _, r in v),
               "round_ms": [round(t, 1) for t, _ in v]} for k, v in runs.items()}
    per_round = lambda num, den: statistics.median(n[0] / d[0] for n, d in zip(runs[num], runs[den]))
    # Logit cosine, each int8 against its own fp32, on the first photo.
    x = calib[0]
    so = ort.SessionOptions(); so.intra_op_num_threads = a.threads
    f32 = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"]).run(None, feeds(x))[0].ravel()
    i8 = ort.InferenceSession(q8, so, providers=["CPUExecutionProvider"]).run(None, feeds(x))[0].ravel()
    cos = lambda u, v: float(np.dot(u.astype(np.float64), v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    res["ort_int8"]["logit_cosine_vs_fp32"] = cos(f32, i8)
    ours = {}
    for key, pack in [("fp32", a.fp32_pack), ("int8", a.int8_pack)]:
        np.save(os.path.join(work, "image.npy"), x)
        np.save(os.path.join(work, "text.npy"), text)
        out = os.path.join(work, key)
        run_measured([os.path.join(ROOT, a.bin, "lseg-run"), "exec", pack, "--graph", "image", "--input",
                      f"image={work}/image.npy", "--input", f"text_features={work}/text.npy", "--output-dir", out])
        f = [n for n in os.listdir(out) if n.endswith(".npy")][0]
        ours[key] = np.load(os.path.join(out, f)).ravel()
    res["ours_int8"]["logit_cosine_vs_fp32"] = cos(ours["fp32"], ours["int8"])
    res["ratios"] = {"ours_int8/ours_fp32": per_round("ours_int8", "ours_fp32"),
                     "ours_int8/ort_int8": per_round("ours_int8", "ort_int8"),
                     "ours_fp32/ort_fp32": per_round("ours_fp32", "ort_fp32"),
                     "ours_int8_rss/ort_fp32_rss": res["ours_int8"]["peak_rss_mb"] / res["ort_fp32"]["peak_rss_mb"]}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
