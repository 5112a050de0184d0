# Prints ONNX Runtime outputs for the semantics corner cases that ResizeTests, PoolingTests and
# ConvolutionTests pin as constants (pip install onnx onnxruntime numpy; ORT 1.32 was used).
import numpy as np, onnx, onnxruntime as ort
from onnx import helper as h, TensorProto as T
def run(node, inputs, opset=18, outs=1):
    ins = [h.make_tensor_value_info(f"i{k}", T.FLOAT if v.dtype==np.float32 else T.INT64, v.shape) if v is not None else None for k,v in enumerate(inputs)]
    node.input[:] = [f"i{k}" if v is not None else "" for k,v in enumerate(inputs)]
    node.output[:] = ["y"]
    g = h.make_graph([node], "g", [i for i,v in zip(ins, inputs) if v is not None], [h.make_tensor_value_info("y", T.FLOAT, None)])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {f"i{k}": v for k,v in enumerate(inputs) if v is not None})[0]
# ConvTranspose output_shape padding side
x = np.random.RandomState(0).rand(1,1,4,4).astype(np.float32); w = np.random.RandomState(1).rand(1,1,3,3).astype(np.float32)
full = run(h.make_node("ConvTranspose", [], [], strides=[2,2]), [x, w])
cut = run(h.make_node("ConvTranspose", [], [], strides=[2,2], output_shape=[8,8]), [x, w])
print("convT full", full.shape, "cut", cut.shape, "begin-pad(=drop first)", np.allclose(cut, full[:,:,1:,1:]), "end-pad", np.allclose(cut, full[:,:,:-1,:-1]))
for ap in ["SAME_UPPER", "SAME_LOWER"]:
    try:
        c2 = run(h.make_node("ConvTranspose", [], [], strides=[2,2], auto_pad=ap), [x, w])
        print(ap, c2.shape, "drop first", np.allclose(c2, full[:,:,1:,1:]), "drop last", np.allclose(c2, full[:,:,:-1,:-1]))
    except Exception as e: print(ap, "error", str(e)[:100])
# MaxPool ceil-mode drop
xp = np.arange(9, dtype=np.float32).reshape(1,1,3,3)
print("pool ceil", run(h.make_node("MaxPool", [], [], kernel_shape=[3,3], strides=[2,2], pads=[1,1,2,2], ceil_mode=1), [xp]).shape)
xa = np.arange(25, dtype=np.float32).reshape(1,1,5,5)
print("avg ceil incl", run(h.make_node("AveragePool", [], [], kernel_shape=[2,2], strides=[2,2], pads=[1,1,1,1], ceil_mode=1, count_include_pad=1), [xa]).ravel().tolist())
# Resize
x4 = np.array([[10,11,12,13]], dtype=np.float32)
print("nearest ac", run(h.make_node("Resize", [], [], mode="nearest", coordinate_transformation_mode="align_corners"), [x4, None, None, np.array([1,3], dtype=np.int64)]).tolist())
r8 = np.arange(8, dtype=np.float32).reshape(1,8)
print("cubic", run(h.make_node("Resize", [], [], mode="cubic", coordinate_transformation_mode="asymmetric"), [r8, None, np.array([1,2], dtype=np.float32)]).ravel().tolist())
print("cubic hp", run(h.make_node("Resize", [], [], mode="cubic"), [r8, None, np.array([1,1.5], dtype=np.float32)]).ravel().tolist())
xs = np.array([1,2,4,8,3], dtype=np.float32).reshape(1,5)
print("hps", run(h.make_node("Resize", [], [], mode="linear", coordinate_transformation_mode="half_pixel_symmetric"), [xs, None, np.array([1,1.7], dtype=np.float32)]).ravel().tolist())
print("lin hp down", run(h.make_node("Resize", [], [], mode="linear"), [xs, None, np.array([1,0.6], dtype=np.float32)]).ravel().tolist())
