"""Times one ONNX model under ONNX Runtime in its own process and prints JSON (median/min/max ms,
session creation seconds, this process's peak RSS). Used by bench/run so both runtimes get the
same inputs, threads and run counts."""
import json
import os
import resource
import sys
import time

import numpy as np
import onnxruntime as ort


def inputs_for(sess, labels, height, width):
    rng = np.random.default_rng(1)
    feeds = {}
    for i in sess.get_inputs():
        shape = []
        for k, d in enumerate(i.shape):
            if isinstance(d, int):
                shape.append(d)
            elif len(i.shape) == 4 and k >= 2:
                shape.append(height if k == 2 else width)
            elif len(i.shape) == 4 and k == 0:
                shape.append(1)
            else:
                shape.append(labels)
        if "int64" in i.type:
            ids = np.zeros(shape, dtype=np.int64)
            for r in range(shape[0]):
                words = 1 + r % 6
                ids[r, 0] = 49406
                ids[r, 1:1 + words] = rng.integers(300, 40000, words)
                ids[r, words + 1] = 49407
            feeds[i.name] = ids
        else:
            x = rng.uniform(-1, 1, shape).astype(np.float32)
            if len(shape) == 2:
                x /= np.linalg.norm(x, axis=1, keepdims=True)
            feeds[i.name] = x
    return feeds


def main():
    a = json.loads(sys.argv[1])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a["threads"]
    opts.inter_op_num_threads = 1
    t0 = time.monotonic()
    sess = ort.InferenceSession(a["model"], opts, providers=["CPUExecutionProvider"])
    create = time.monotonic() - t0
    feeds = inputs_for(sess, a["labels"], a["height"], a["width"])
    # Optional: the exact inputs another runtime used (raw files written by lseg-bench --dump).
    for name, spec in a.get("inputs", {}).items():
        if name in feeds:
            dtype = {"int64": np.int64, "int32": np.int32, "float32": np.float32}[spec["dtype"]]
            feeds[name] = np.fromfile(spec["file"], dtype=dtype).reshape(spec["shape"])
    t0 = time.monotonic()
    sess.run(None, feeds)
    first = time.monotonic() - t0
    for _ in range(a["warmup"] - 1):
        sess.run(None, feeds)
    times = []
    for _ in range(a["runs"]):
        t0 = time.monotonic()
        sess.run(None, feeds)
        times.append((time.monotonic() - t0) * 1000)
    times.sort()
    if a.get("dump_outputs"):
        for o, v in zip(sess.get_outputs(), sess.run(None, feeds)):
            np.save(os.path.join(a["dump_outputs"], f"ort.{o.name}.npy"), v)
    print(json.dumps({"median_ms": times[len(times) // 2], "min_ms": times[0], "max_ms": times[-1],
                      "create_s": create, "first_run_s": first,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "ort_version": ort.__version__}))


if __name__ == "__main__":
    main()
