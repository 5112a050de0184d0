#!/usr/bin/env python3
"""Quantization benchmark (never in CI): our int8 pack vs our fp32 pack vs ONNX Runtime's
quantize_static (QDQ, per-channel) on an LSeg export.

For each config it converts the ONNX model with lseg-convert, quantizes it with lseg-quantize
(calibrated on --calib images), quantizes the same ONNX with ORT's quantize_static on the same
calibration tensors, then on the evaluation images reports: sizes, mask agreement and logit SQNR
against our fp32 logits, and latency (lseg-bench for ours, session.run for ORT).

Usage (from the repository root, with golden/make/.venv's python or any python with onnx,
onnxruntime and numpy; Pillow is used for JPEG and exact resizing when present):
    swift build -c release
    python bench/quantize/bench.py --config tiny            # golden/models/tiny/lseg.onnx
    python bench/quantize/bench.py --config vitb32 --config vitl16   # golden/full/... (run.sh --full)
"""
import argparse, json, os, struct, subprocess, sys, tempfile, time, zlib
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIGS = {
    "tiny": {"onnx": "golden/models/tiny/lseg.onnx", "size": 128},
    "vitb32": {"onnx": "golden/full/models/vitb32/lseg.onnx", "size": 384},
    "vitl16": {"onnx": "golden/full/models/vitl16/lseg.onnx", "size": 384},
}


def read_png(path):
    """8-bit non-interlaced PNG to HxWx3 uint8 (fallback when Pillow is missing)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat, palette = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and interlace == 0, f"{path}: only 8-bit non-interlaced PNGs without Pillow"
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * channels
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 0: p = 0
            elif f == 1: p = a
            elif f == 2: p = b
            elif f == 3: p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p) & 255
        out[y] = cur
        prev = cur
    px = out.reshape(h, w, channels)
    if ctype == 3: return palette[px[..., 0]]
    if channels in (1, 2): return np.repeat(px[..., :1], 3, axis=2)
    return px[..., :3]


def load_image(path, size):
    try:
        from PIL import Image
        im = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
        rgb = np.asarray(im, np.float32)
    except ImportError:
        if not path.lower().endswith(".png"):
            return None
        rgb = read_png(path).astype(np.float32)
        ys = (np.arange(size) + 0.5) * rgb.shape[0] / size - 0.5
        xs = (np.arange(size) + 0.5) * rgb.shape[1] / size - 0.5
        y0 = np.clip(np.floor(ys).astype(int), 0, rgb.shape[0] - 1); y1 = np.clip(y0 + 1, 0, rgb.shape[0] - 1)
        x0 = np.clip(np.floor(xs).astype(int), 0, rgb.shape[1] - 1); x1 = np.clip(x0 + 1, 0, rgb.shape[1] - 1)
        wy = np.clip(ys - y0, 0, 1)[:, None, None]; wx = np.clip(xs - x0, 0, 1)[None, :, None]
        rgb = (rgb[y0][:, x0] * (1 - wy) * (1 - wx) + rgb[y0][:, x1] * (1 - wy) * wx
               + rgb[y1][:, x0] * wy * (1 - wx) + rgb[y1][:, x1] * wy * wx)
    x = (rgb / 255.0 - 0.5) / 0.5
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32))


def images_under(folder):
    out = []
    for d, _, files in os.walk(folder):
        for f in files:
            if f.lower().endswith((".png", ".jpg", ".jpeg")) and not f.endswith("_mask.png"):
                out.append(os.path.join(d, f))
    return sorted(out)


def run(cmd, fatal=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 and not fatal:
        print(f"note: {' '.join(cmd[:3])}... failed: {r.stderr.strip()}", file=sys.stderr)
        return None
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def sqnr(ref, x):
    n = float(((ref - x) ** 2).sum())
    return float("inf") if n == 0 else 10 * np.log10(float((ref ** 2).sum()) / n)


def ours_logits(bin_dir, pack, image, tokens, tmp, fatal=True):
    """Our logits through lseg-run exec; None when a non-fatal run fails (int8 kernels missing)."""
    np.save(os.path.join(tmp, "image.npy"), image)
    np.save(os.path.join(tmp, "tokens.npy"), tokens)
    out = os.path.join(tmp, "out")
    if os.path.exists(os.path.join(out, "logits.npy")):
        os.remove(os.path.join(out, "logits.npy"))
    if run([os.path.join(bin_dir, "lseg-run"), "exec", pack, "--input", f"image={tmp}/image.npy",
            "--input", f"tokens={tmp}/tokens.npy", "--output-dir", out], fatal) is None:
        return None
    return np.load(os.path.join(out, "logits.npy"))


def bench_config(name, args):
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    cfg = dict(CONFIGS[name])
    onnx_path = os.path.join(ROOT, cfg["onnx"])
    if not os.path.exists(onnx_path):
        print(f"{name}: {cfg['onnx']} missing (make it with golden/make/run.sh --full); skipped")
        return None
    size = cfg["size"]
    tokens = np.load(os.path.join(ROOT, args.tokens))
    calib_paths = images_under(os.path.join(ROOT, args.calib))[: args.samples]
    eval_paths = images_under(os.path.join(ROOT, args.eval))[: args.eval_count]
    calib = [t for t in (load_image(p, size) for p in calib_paths) if t is not None]
    evals = [t for t in (load_image(p, size) for p in eval_paths) if t is not None]
    # Flipped photos give evaluation images unseen by calibration when no --eval folder is given.
    if not evals:
        evals = [np.ascontiguousarray(c[..., ::-1]) for c in calib]
    work = tempfile.mkdtemp(prefix=f"qbench-{name}-")
    bin_dir = os.path.join(ROOT, args.bin)
    fp32 = os.path.join(work, "lseg.pack")
    int8 = os.path.join(work, "lseg-int8.pack")
    report = os.path.join(work, "report.json")
    if args.fp32_pack:
        fp32 = os.path.abspath(args.fp32_pack)
    else:
        run([os.path.join(bin_dir, "lseg-convert"), onnx_path, "-o", fp32, "--vocab",
             os.path.join(ROOT, "golden/vocab/bpe_simple_vocab_16e6.txt.gz")])
    t0 = time.time()
    if args.int8_pack:
        # Reusing packs made earlier (same options) keeps a busy machine's run short.
        int8 = os.path.abspath(args.int8_pack)
        report = args.int8_report
    else:
        run([os.path.join(bin_dir, "lseg-quantize"), fp32, "--calib", os.path.join(ROOT, args.calib), "-o", int8,
             "--samples", str(args.samples), "--method", args.method, "--report", report]
            + (["--emulate"] if args.emulate else []))
    ours_quantize_s = None if args.int8_pack else time.time() - t0
    # fp16: weights stored as half (the size aim is at most 0.52 of the ONNX file).
    fp16 = os.path.join(work, "lseg-fp16.pack")
    if args.no_fp16:
        fp16 = None
    else:
        run([os.path.join(bin_dir, "lseg-quantize"), fp32, "--mode", "fp16", "-o", fp16])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"image": c, "tokens": tokens} for c in calib])
        def get_next(self):
            return next(self.items, None)

    ort_int8 = os.path.join(work, "lseg-ort-int8.onnx")
    t0 = time.time()
    quantize_static(onnx_path, ort_int8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    ort_quantize_s = time.time() - t0
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    s32 = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    s8 = ort.InferenceSession(ort_int8, so, providers=["CPUExecutionProvider"])

    rows = {"ours_int8": [], "ours_fp16": [], "ort_int8": [], "ort_fp32": []}
    agree = {k: [] for k in rows}
    cosine = {k: [] for k in rows}
    for i, x in enumerate(evals):
        ref = ours_logits(bin_dir, fp32, x, tokens, work)
        outs = {"ours_int8": ours_logits(bin_dir, int8, x, tokens, work, fatal=False),
                "ours_fp16": ours_logits(bin_dir, fp16, x, tokens, work, fatal=False) if fp16 else None,
                "ort_int8": s8.run(["logits"], {"image": x, "tokens": tokens})[0],
                "ort_fp32": s32.run(["logits"], {"image": x, "tokens": tokens})[0]}
        for k, v in outs.items():
            if v is None:
                continue
            rows[k].append(sqnr(ref, v))
            agree[k].append(float((ref.argmax(1) == v.argmax(1)).mean()))
            r, q = ref.ravel().astype(np.float64), v.ravel().astype(np.float64)
            cosine[k].append(float(r @ q / (np.linalg.norm(r) * np.linalg.norm(q))))

    def ort_latency(sess):
        feeds = {"image": evals[0], "tokens": tokens}
        sess.run(None, feeds)
        t = time.time()
        for _ in range(args.runs): sess.run(None, feeds)
        return (time.time() - t) / args.runs * 1000

    def our_latency(pack):
        out = run([os.path.join(bin_dir, "lseg-bench"), pack, "--labels", str(tokens.shape[0]),
                              "--runs", str(args.runs), "--threads", str(args.threads), "--json"], fatal=False)
        return json.loads(out) if out else None

    result = {
        "config": name, "calibration_images": len(calib), "evaluation_images": len(evals),
        "sizes_bytes": {"onnx": os.path.getsize(onnx_path), "pack_fp32": os.path.getsize(fp32),
                        "pack_int8": os.path.getsize(int8), "ort_int8_onnx": os.path.getsize(ort_int8),
                        "pack_fp16": os.path.getsize(fp16) if fp16 else None},
        "size_over_onnx": {"pack_fp32": os.path.getsize(fp32) / os.path.getsize(onnx_path),
                           "pack_int8": os.path.getsize(int8) / os.path.getsize(onnx_path),
                           "pack_fp16": os.path.getsize(fp16) / os.path.getsize(onnx_path) if fp16 else None,
                           "ort_int8_onnx": os.path.getsize(ort_int8) / os.path.getsize(onnx_path)},
        "quantize_seconds": {"ours": ours_quantize_s, "ort": ort_quantize_s},
        "vs_our_fp32": {k: {"logit_sqnr_db_mean": float(np.mean(rows[k])) if rows[k] else None,
                            "logit_cosine_mean": float(np.mean(cosine[k])) if cosine[k] else None,
                            "mask_agreement_mean": float(np.mean(agree[k])) if agree[k] else None} for k in rows},
        "latency": {"ours_fp32": our_latency(fp32), "ours_int8": our_latency(int8),
                    "ort_fp32_ms": ort_latency(s32), "ort_int8_ms": ort_latency(s8)},
        "our_report": json.load(open(report))["endToEnd"] if report else None,
    }
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", action="append", choices=sorted(CONFIGS), help="model config (repeatable; default tiny)")
    p.add_argument("--calib", default="golden/photos")
    p.add_argument("--eval", default="golden/scenes", help="evaluation images (default: held-out scenes)")
    p.add_argument("--eval-count", type=int, default=16)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--method", default="percentile")
    p.add_argument("--tokens", default="golden/ref/tiny-lseg/random3/inputs/tokens.npy")
    p.add_argument("--bin", default=".build/release")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--emulate", action="store_true", help="lseg-quantize --emulate (before the int8 kernels exist)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--fp32-pack", help="reuse this fp32 pack instead of converting (one --config only)")
    p.add_argument("--int8-pack", help="reuse this int8 pack instead of quantizing (one --config only)")
    p.add_argument("--int8-report", help="lseg-quantize's JSON report of --int8-pack")
    p.add_argument("--no-fp16", action="store_true", help="skip the fp16 pack")
    args = p.parse_args()
    results = [r for r in (bench_config(c, args) for c in (args.config or ["tiny"])) if r]
    print(json.dumps(results, indent=1))
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
