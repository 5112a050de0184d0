""".npy, gzip/DEFLATE and logits-resize fixtures for the LSeg tests.

Usage (from this folder): python make_data_fixtures.py
Needs numpy, onnx and onnxruntime (the resize reference is ONNX Runtime's Resize, linear,
half_pixel, which is PyTorch's bilinear with align_corners=False, also for an output of 1).
"""
import gzip
import json
import zlib

import numpy as np

# .npy: values are a formula of the element index, so the test rebuilds them.
values = np.arange(24).reshape(2, 3, 4)
arrays = {
    "f4": (values * 0.5 - 3).astype("<f4"),
    "f2": (values * 0.25 - 2).astype("<f2"),
    "i8": (values * 1000003 - 7).astype("<i8"),
    "i4": (values * -3 + 5).astype("<i4"),
    "u1": (values * 11 % 256).astype("|u1"),
    "i1": (values * 5 - 60).astype("|i1"),
    "b1": (values % 3 == 0),
}
for name, a in arrays.items():
    np.save(f"npy-{name}.npy", a)
np.save("npy-scalar.npy", np.array(2.5, dtype="<f4"))
np.save("npy-empty.npy", np.zeros((0, 3), dtype="<f4"))
np.save("npy-1d.npy", np.arange(5, dtype="<i8"))
for version in ((2, 0), (3, 0)):
    with open(f"npy-f4-v{version[0]}.npy", "wb") as f:
        np.lib.format.write_array(f, arrays["f4"], version=version)
np.save("npy-fortran.npy", np.asfortranarray(arrays["f4"]))
np.save("npy-bigendian.npy", arrays["f4"].astype(">f4"))
np.save("npy-complex.npy", np.zeros(3, dtype="<c8"))

# gzip and raw DEFLATE.
text = ("the quick brown fox jumps over the lazy dog; " * 40 + "".join(chr(c) for c in range(256) if c < 0xD800)).encode()
noise = np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8).tobytes()
payload = text + noise + text
with open("inflate-payload.bin", "wb") as f:
    f.write(payload)
with open("inflate-level9.gz", "wb") as f:
    f.write(gzip.compress(payload, 9, mtime=0))
with open("inflate-stored.gz", "wb") as f:
    f.write(gzip.compress(payload, 0, mtime=0))
with open("inflate-two-members.gz", "wb") as f:
    f.write(gzip.compress(payload[:1000], 6, mtime=0) + gzip.compress(payload[1000:], 1, mtime=0))
with open("inflate-empty.gz", "wb") as f:
    f.write(gzip.compress(b"", 9, mtime=0))
c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_FIXED)
with open("inflate-fixed.deflate", "wb") as f:
    f.write(c.compress(payload) + c.flush())
c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY)
with open("inflate-huffman-only.deflate", "wb") as f:
    f.write(c.compress(payload) + c.flush())

# Logits resize: ONNX Runtime Resize (linear, half_pixel), shrinking and enlarging.
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
import onnxruntime as ort  # noqa: E402

rng = np.random.default_rng(99)
logits = rng.standard_normal((3, 6, 9)).astype(np.float32)
np.save("logits.npy", logits)
cases = []
for (oh, ow) in ((17, 25), (4, 5), (6, 9), (1, 1), (12, 7)):
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                            coordinate_transformation_mode="half_pixel")
    graph = helper.make_graph([node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 3, oh, ow])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    y = ort.InferenceSession(model.SerializeToString()).run(None, {"x": logits[None]})[0][0]
    name = f"logits-resized-{oh}x{ow}.npy"
    np.save(name, y)
    cases.append({"file": name, "height": oh, "width": ow})
with open("logits.json", "w") as f:
    json.dump(cases, f, indent=1)
    f.write("\n")
