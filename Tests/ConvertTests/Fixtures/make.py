#!/usr/bin/env python3
"""Writes the small ONNX files ImportTests reads. Run from this folder:
    python3 make.py
Needs `pip install onnx numpy`; the Swift tests themselves never run Python."""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.dirname(os.path.abspath(__file__))


def save(model, name):
    onnx.save(model, os.path.join(OUT, name))


def model(graph, opset=17, **kw):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make.py",
                          producer_version="1", **kw)
    m.ir_version = 8
    return m


# 1. Every attribute type on one custom-domain node (read by the attribute decoder only).
def attrs():
    t = numpy_helper.from_array(np.array([[1.5, -2.0]], dtype=np.float32), "t")
    sub = helper.make_graph([helper.make_node("Relu", ["a"], ["b"])], "body",
                            [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2])],
                            [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])])
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([7, 9], dtype=np.int64), "sp"),
        numpy_helper.from_array(np.array([1, 4], dtype=np.int64), "sp_idx"), [2, 3])
    tp = helper.make_tensor_type_proto(TensorProto.FLOAT, ["N", 3])
    node = helper.make_node("Everything", ["x"], ["y"], domain="test", name="all_attrs",
                            f=0.25, i=-7, s="hello", t=t, g=sub, floats=[1.0, 2.5], ints=[3, -4, 5],
                            strings=["a", "bc"], tensors=[t, t], graphs=[sub, sub], sp=sparse, sps=[sparse],
                            tp=tp, tps=[tp, helper.make_sequence_type_proto(tp)])
    g = helper.make_graph([node], "attrs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("test", 1)])
    m.ir_version = 8
    save(m, "attrs.onnx")


# 2. Initializers from each typed field and raw_data, one per dtype, all added to a graph input.
def initializers():
    inits = []
    rng = np.random.default_rng(5)
    f = rng.standard_normal(6).astype(np.float32)
    inits.append(helper.make_tensor("f32_typed", TensorProto.FLOAT, [2, 3], f.tolist()))
    inits.append(helper.make_tensor("f32_raw", TensorProto.FLOAT, [2, 3], f.tobytes(), raw=True))
    inits.append(helper.make_tensor("i64_typed", TensorProto.INT64, [3], [1, -2, 1 << 40]))
    inits.append(helper.make_tensor("i32_typed", TensorProto.INT32, [2], [-5, 1 << 30]))
    inits.append(helper.make_tensor("i8_typed", TensorProto.INT8, [3], [-128, 0, 127]))
    inits.append(helper.make_tensor("u8_typed", TensorProto.UINT8, [3], [0, 200, 255]))
    inits.append(helper.make_tensor("i16_typed", TensorProto.INT16, [2], [-30000, 12345]))
    inits.append(helper.make_tensor("u16_typed", TensorProto.UINT16, [2], [65535, 1]))
    inits.append(helper.make_tensor("bool_typed", TensorProto.BOOL, [3], [True, False, True]))
    h = np.array([1.0, -0.5, 65504.0], dtype=np.float16)
    inits.append(helper.make_tensor("f16_typed", TensorProto.FLOAT16, [3], h.tolist()))  # stored as bits in int32_data
    inits.append(helper.make_tensor("f64_typed", TensorProto.DOUBLE, [2], [np.pi, -1e300]))
    inits.append(helper.make_tensor("u64_typed", TensorProto.UINT64, [2], [0, (1 << 64) - 1]))
    inits.append(helper.make_tensor("u32_typed", TensorProto.UINT32, [2], [7, (1 << 32) - 1]))
    inits.append(helper.make_tensor("i64_raw", TensorProto.INT64, [3], np.array([1, -2, 1 << 40], np.int64).tobytes(), raw=True))
    inits.append(helper.make_tensor("scalar", TensorProto.FLOAT, [], [3.5]))
    inits.append(helper.make_tensor("empty", TensorProto.FLOAT, [0, 4], []))
    # Constant nodes in every value form.
    consts = [
        helper.make_node("Constant", [], ["c_tensor"], value=numpy_helper.from_array(np.array([1, 2], np.int32))),
        helper.make_node("Constant", [], ["c_float"], value_float=2.5),
        helper.make_node("Constant", [], ["c_floats"], value_floats=[1.0, -1.0]),
        helper.make_node("Constant", [], ["c_int"], value_int=-3),
        helper.make_node("Constant", [], ["c_ints"], value_ints=[4, 5, 6]),
        helper.make_node("Constant", [], ["c_sparse"], sparse_value=helper.make_sparse_tensor(
            numpy_helper.from_array(np.array([5.0, 6.0], np.float32), "sv"),
            numpy_helper.from_array(np.array([[0, 1], [1, 0]], np.int64), "si"), [2, 2])),
    ]
    nodes = consts + [helper.make_node("Add", ["x", "f32_typed"], ["y"]),
                      helper.make_node("Add", ["y", "c_float"], ["z"])]
    g = helper.make_graph(nodes, "inits",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
                           # Listed as an input too, as old exporters did: it is a weight, not a model input.
                           helper.make_tensor_value_info("f32_raw", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3])], inits,
                          value_info=[helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    # One dimension with neither a value nor a name.
    g.input[0].type.tensor_type.shape.dim.add()
    save(model(g), "initializers.onnx")


# 3. External data: good, plus variants with an escaping path, an offset past the end and a short file.
def external():
    w = np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5
    b = np.arange(4, dtype=np.float32) - 2
    blob = bytearray(b"\0" * 16) + bytearray(w.tobytes()) + bytearray(b.tobytes())
    with open(os.path.join(OUT, "external.bin"), "wb") as fh:
        fh.write(blob)

    def ext(name, arr, location, offset, length=None):
        t = TensorProto()
        t.name, t.data_type = name, TensorProto.FLOAT
        t.dims.extend(arr.shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in [("location", location), ("offset", str(offset))] + ([("length", str(length))] if length is not None else []):
            e = t.external_data.add()
            e.key, e.value = k, v
        return t

    def make(w_loc, w_off, name, w_len=None):
        nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])]
        g = helper.make_graph(nodes, "ext", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
                              [ext("w", w, w_loc, w_off, w_len), ext("b", b, "external.bin", 16 + 48, 16)])
        save(model(g), name)

    make("external.bin", 16, "external.onnx", 48)
    make("../external.bin", 16, "external_escape.onnx")
    make("/etc/passwd", 0, "external_absolute.onnx")
    make("external.bin", 1 << 40, "external_offset.onnx")
    make("external.bin", 40, "external_short.onnx")  # 40 + 48 > 80 bytes in the file
    make("external.bin", 16, "external_length.onnx", 44)


# 4. Ops the importer does not know, in several places: all must be listed at once.
def unsupported():
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("NonMaxSuppression", ["a"], ["b"], name="nms1"),
             helper.make_node("NonMaxSuppression", ["b"], ["c"], name="nms2"),
             helper.make_node("Hardmax", ["c"], ["d"]),
             helper.make_node("FusedGemm", ["d"], ["e"], domain="com.microsoft", name="fg"),
             helper.make_node("Gelu", ["e"], ["y"], name="gelu_too_early")]
    g = helper.make_graph(nodes, "unsup", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    save(m, "unsupported.onnx")


# 5. Broken graphs: duplicate output, dangling input, cycle, out-of-order nodes.
def broken():
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [2])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["a"], name="r1"), helper.make_node("Neg", ["x"], ["a"], name="r2")],
                          "dup", [vi("x")], [vi("a")])
    save(model(g), "duplicate_output.onnx")
    g = helper.make_graph([helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")], "dangling", [vi("x")], [vi("y")])
    save(model(g), "dangling.onnx")
    g = helper.make_graph([helper.make_node("Add", ["x", "c"], ["a"], name="n_a"), helper.make_node("Relu", ["a"], ["b"], name="n_b"),
                           helper.make_node("Neg", ["b"], ["c"], name="n_c")], "cycle", [vi("x")], [vi("b")])
    save(model(g), "cycle.onnx")
    g = helper.make_graph([helper.make_node("Neg", ["a"], ["y"]), helper.make_node("Relu", ["x"], ["a"])],
                          "unordered", [vi("x")], [vi("y")])
    save(model(g), "unordered.onnx")
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 3], np.zeros(6, np.float32).tobytes(), raw=True)
    t.raw_data = t.raw_data[:20]
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "short_raw", [vi("x")], [vi("y")], [t])
    save(model(g), "short_raw.onnx")
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 3], np.zeros(6, np.float32).tobytes(), raw=True)
    t.dims[1] = -3
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "negative_dim", [vi("x")], [vi("y")], [t])
    save(model(g), "negative_dim.onnx")
    g = helper.make_graph([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="bicubic")], "bad_mode", [vi("x")], [vi("y")],
                          [helper.make_tensor("s", TensorProto.FLOAT, [1], [2.0])])
    save(model(g, opset=18), "bad_resize_mode.onnx")


# 6. Ops with typed attributes, and opset-dependent forms.
def ops():
    vi = lambda n, s, t=TensorProto.FLOAT: helper.make_tensor_value_info(n, t, s)
    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["c"], name="conv", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], group=1),
        helper.make_node("Resize", ["c", "", "scales"], ["r"], name="resize", mode="linear",
                         coordinate_transformation_mode="align_corners"),
        helper.make_node("ReduceMean", ["r"], ["m"], name="rmean", axes=[2, 3], keepdims=1),
        helper.make_node("ReduceSum", ["r", "axes"], ["s"], name="rsum", keepdims=0),
        helper.make_node("Gemm", ["g_a", "g_b"], ["g"], name="gemm", transB=1, alpha=0.5),
        helper.make_node("Split", ["g", "split"], ["sp1", "sp2"], name="split13", axis=1),
        helper.make_node("Dropout", ["sp1"], ["dr", "mask"], name="drop"),
        helper.make_node("MaxPool", ["x"], ["mp"], name="pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        helper.make_node("ConstantOfShape", ["shape"], ["cos"], name="cos",
                         value=numpy_helper.from_array(np.array([7], np.int64))),
        helper.make_node("Cast", ["cos"], ["cast"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Shape", ["x"], ["shp"], name="shape", start=1, end=-1),
    ]
    inits = [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "cw"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array([1], np.int64), "axes"),
             numpy_helper.from_array(np.ones((5, 6), np.float32), "g_b"),
             numpy_helper.from_array(np.array([2, 3], np.int64), "split"),
             numpy_helper.from_array(np.array([2, 2], np.int64), "shape")]
    g = helper.make_graph(nodes, "ops", [vi("x", [1, 3, 8, 8]), vi("g_a", [4, 6])],
                          [vi("m", None), vi("s", None), vi("dr", None), vi("sp2", None), vi("mp", None), vi("cast", None),
                           vi("shp", None, TensorProto.INT64)], inits)
    save(model(g, opset=17), "ops17.onnx")
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], name="rmean18", keepdims=0),
             helper.make_node("Split", ["x"], ["a", "b"], name="split18", axis=1, num_outputs=2),
             helper.make_node("Gelu", ["a"], ["ge"], name="gelu", approximate="tanh")]
    g = helper.make_graph(nodes, "ops20", [vi("x", [2, 4])], [vi("m", None), vi("b", None), vi("ge", None)],
                          [numpy_helper.from_array(np.array([1], np.int64), "axes")])
    save(model(g, opset=20), "ops20.onnx")


# 7. Role detection: text tower, image tower, and a combined graph to split.
def roles():
    D = 8
    tok = helper.make_tensor_value_info("tokens", TensorProto.INT64, ["N", 77])
    img = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])
    emb = numpy_helper.from_array(np.random.default_rng(1).standard_normal((50, D)).astype(np.float32), "emb")
    proj = numpy_helper.from_array(np.eye(D, dtype=np.float32), "proj")
    text_nodes = [
        helper.make_node("Gather", ["emb", "tokens"], ["e"], name="embed"),             # [N,77,D]
        helper.make_node("ReduceMean", ["e"], ["pooled"], name="pool", axes=[1], keepdims=0),  # [N,D]
        helper.make_node("MatMul", ["pooled", "proj"], ["text_features"], name="text_proj"),
    ]
    cw = numpy_helper.from_array(np.ones((D, 3, 1, 1), np.float32), "cw")
    image_nodes = [
        helper.make_node("Conv", ["image", "cw"], ["feat"], name="img_conv", kernel_shape=[1, 1]),  # [1,D,H,W]
        helper.make_node("Transpose", ["feat"], ["ft"], name="img_t", perm=[0, 2, 3, 1]),          # [1,H,W,D]
        helper.make_node("Transpose", ["text_features"], ["tf_t"], name="text_t", perm=[1, 0]),   # [D,N]
        helper.make_node("MatMul", ["ft", "tf_t"], ["logits"], name="logits"),                     # [1,H,W,N]
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "H", "W", "N"])
    g = helper.make_graph(text_nodes + image_nodes, "combined", [tok, img], [out], [emb, proj, cw],
                          value_info=[helper.make_tensor_value_info("text_features", TensorProto.FLOAT, ["N", D])])
    save(model(g), "combined.onnx")
    # The same without value_info: the boundary's type must be found by structure.
    del g.value_info[:]
    save(model(g), "combined_noinfo.onnx")
    g = helper.make_graph(text_nodes, "text", [tok], [helper.make_tensor_value_info("text_features", TensorProto.FLOAT, ["N", D])],
                          [emb, proj])
    save(model(g), "text.onnx")
    tf_in = helper.make_tensor_value_info("text_features", TensorProto.FLOAT, ["N", D])
    g = helper.make_graph(image_nodes, "image", [img, tf_in], [out], [cw])
    save(model(g), "image.onnx")


attrs()
initializers()
external()
unsupported()
broken()
ops()
roles()
print("wrote fixtures to", OUT)
