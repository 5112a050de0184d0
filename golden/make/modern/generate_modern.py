"""Fixtures from current PyTorch (see run.sh): golden/models/modern/, golden/ref/modern-*/ and
golden/manifest-modern.json. Deterministic for a given torch / onnxscript / onnxruntime.

Every model is the tiny config with random weights (seed 0, as ../generate.py builds it). The
reference inputs are the committed ones of the TorchScript fixtures (golden/ref/tiny-*/), so
only the outputs are new files.

generate_modern.py            the committed fixtures
generate_modern.py --opsets DIR   also every opset 13-20 of the combined model into DIR (not
                              committed; check_opsets.sh converts and runs them)
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from lseg_variants import LSegImageVariant  # noqa: E402
from lseg_model import build_random  # noqa: E402  (path set up by lseg_variants)

# (key, graph, exporter, opset, variant options, reference cases)
#   graph "lseg": image + tokens -> logits; "image": image + text_features -> logits
FIXTURES = [
    # What a user of PyTorch 2.9+ gets by default: dynamo, opset 20, external data.
    ("modern/dynamo_lseg", "lseg", "dynamo", 20, {}, ["random3", "n1"]),
    # Opset 18: Erf GELU and reduce axes as inputs; arch_option 1 with LeakyReLU.
    ("modern/dynamo_image_arch1", "image", "dynamo", 18, dict(arch_option=1, activation="lrelu"), ["random3"]),
    # Opset 19; arch_option 2 with Tanh and the float16 feature product.
    ("modern/dynamo_image_arch2_fp16", "image", "dynamo", 19,
     dict(arch_option=2, activation="tanh", half=True), ["random3"]),
    # The original LSeg path: TorchScript exporter without constant folding (BatchNormalization
    # stays), fp16 product, arch_option 1 with Tanh, at the lowest opset we support.
    ("modern/torchscript_nofold_image_arch1_fp16", "image", "torchscript", 13,
     dict(arch_option=1, activation="tanh", half=True), ["random3"]),
]

# Committed inputs of the TorchScript fixtures (golden/ref/...), per case name.
INPUTS = {
    "lseg": {"random3": "ref/tiny-lseg/random3/inputs", "n1": "ref/tiny-lseg/n1/inputs"},
    "image": {"random3": "ref/tiny-image/random3/inputs", "n1": "ref/tiny-image/n1/inputs"},
}
INPUT_NAMES = {"lseg": ["image", "tokens"], "image": ["image", "text_features"]}


def rel(path):
    return os.path.relpath(path, GOLDEN)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def module_for(model, graph, options):
    if graph == "lseg":
        assert not options, "variant options apply to the image side only"
        return model
    return LSegImageVariant(model, **options).eval()


def example_inputs(graph):
    image = torch.zeros(1, 3, 128, 128)
    if graph == "lseg":
        tokens = torch.from_numpy(np.load(os.path.join(GOLDEN, INPUTS["lseg"]["random3"], "tokens.npy")))
        return (image, tokens)
    return (image, torch.nn.functional.normalize(torch.ones(3, 512), dim=-1))


def export(module, graph, exporter, opset, path):
    """Writes path (and path + '.data' for dynamo's external data). N is the dynamic label count."""
    for p in (path, path + ".data"):
        if os.path.exists(p):
            os.remove(p)
    names = INPUT_NAMES[graph]
    args = example_inputs(graph)
    with torch.no_grad():
        if exporter == "dynamo":
            # torch.export guards N != 1 (nn.MultiheadAttention); the graph still runs at N = 1 (case n1).
            n = torch.export.Dim("N", min=2, max=1024)
            torch.onnx.export(module, args, path, dynamo=True, opset_version=opset, external_data=True,
                              input_names=names, output_names=["logits"],
                              dynamic_shapes={names[0]: None, names[1]: {0: n}})
        else:
            torch.onnx.export(module, args, path, dynamo=False, opset_version=opset, do_constant_folding=False,
                              export_params=True, input_names=names, output_names=["logits"],
                              dynamic_axes={names[1]: {0: "N"}, "logits": {1: "N"}})


def external_locations(model):
    return {kv.value for t in model.graph.initializer for kv in t.external_data if kv.key == "location"}


def share_external_data(paths):
    """Byte-identical external-data files (the image variants share the image tower's weights)
    are kept once: later models point at the first copy. Saves fixture size, and tests that
    several models may read one data file."""
    first = {}
    for path in paths:
        data = path + ".data"
        if not os.path.exists(data):
            continue
        digest = sha256(data)
        if digest not in first:
            first[digest] = os.path.basename(data)
            continue
        m = onnx.load(path, load_external_data=False)
        assert external_locations(m) == {os.path.basename(data)}, path
        for t in m.graph.initializer:
            for kv in t.external_data:
                if kv.key == "location":
                    kv.value = first[digest]
        onnx.save(m, path)
        os.remove(data)


def describe(path, key, exporter, options):
    m = onnx.load(path, load_external_data=False)
    onnx.checker.check_model(path)

    def vi(v):
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        return {"name": v.name, "elem_type": onnx.TensorProto.DataType.Name(t.elem_type).lower(), "shape": dims}

    entry = {
        "key": key, "path": rel(path), "sha256": sha256(path), "bytes": os.path.getsize(path),
        "exporter": exporter, "variant": options, "config": "tiny", "weights": "random (seed 0)",
        "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0],
        "ir_version": m.ir_version, "producer": f"{m.producer_name} {m.producer_version}",
        "inputs": [vi(v) for v in m.graph.input], "outputs": [vi(v) for v in m.graph.output],
        "node_count": len(m.graph.node), "op_types": sorted({n.op_type for n in m.graph.node}),
        "initializer_count": len(m.graph.initializer),
    }
    for location in sorted(external_locations(m)):
        data = os.path.join(os.path.dirname(path), location)
        entry["external_data"] = {"path": rel(data), "sha256": sha256(data), "bytes": os.path.getsize(data)}
    return entry


def node_by_node(path, feeds):
    """ONNX Runtime run one node at a time, each node a model of its own.

    For graphs with float16 values. In a whole-graph session ONNX Runtime's CPU provider
    runs a float16 node between Casts in float32 and drops the rounding of the Cast to float16
    (its cast-insertion and -removal transformers work even with optimizations off), and its
    float16 MatMul accumulates at lower precision (a few float16 ulps from the exact product).
    Run alone, each node keeps its ONNX meaning; a float16 MatMul runs as Cast to float32,
    MatMul, Cast to float16: float32 accumulation and one rounding, as ONNX leaves the
    accumulation to the runtime and ours does.
    """
    m = onnx.load(path)
    inferred = onnx.shape_inference.infer_shapes(m)
    types = {v.name: v.type.tensor_type.elem_type
             for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}
    inits = {t.name: t for t in m.graph.initializer}
    values = {k: v for k, v in feeds.items()}
    f16, f32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    for n in m.graph.node:
        dynamic = [x for x in n.input if x and x not in inits]
        if n.op_type == "MatMul" and types.get(n.input[0]) == f16:
            a, b, y = n.input[0] + "__f32", n.input[1] + "__f32", n.output[0] + "__f32"
            nodes = [onnx.helper.make_node("Cast", [n.input[0]], [a], to=f32),
                     onnx.helper.make_node("Cast", [n.input[1]], [b], to=f32),
                     onnx.helper.make_node("MatMul", [a, b], [y]),
                     onnx.helper.make_node("Cast", [y], [n.output[0]], to=f16)]
        else:
            nodes = [n]
        g = onnx.helper.make_graph(
            nodes, "one_node",
            [onnx.helper.make_tensor_value_info(x, onnx.helper.np_dtype_to_tensor_dtype(values[x].dtype), values[x].shape)
             for x in dict.fromkeys(dynamic)],
            [onnx.ValueInfoProto(name=o) for o in n.output if o],
            [inits[x] for x in dict.fromkeys(n.input) if x in inits])
        one = onnx.helper.make_model(g, opset_imports=m.opset_import, ir_version=m.ir_version)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(one.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs = sess.run(None, {x: values[x] for x in dict.fromkeys(dynamic)})
        values.update(zip([o.name for o in sess.get_outputs()], outs))
    return [values[o.name] for o in m.graph.output], [o.name for o in m.graph.output]


def has_float16(path):
    m = onnx.load(path, load_external_data=False)
    return any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16 for n in m.graph.node for a in n.attribute
               if n.op_type == "Cast")


def reference_case(key, graph, path, module, name):
    inputs_dir = INPUTS[graph][name]
    feeds = {k: np.load(os.path.join(GOLDEN, inputs_dir, k + ".npy")) for k in INPUT_NAMES[graph]}
    native = None
    if has_float16(path):
        native = ort_session(path).run(None, feeds)
        outs, out_names = node_by_node(path, feeds)
    else:
        sess = ort_session(path)
        outs = sess.run(None, feeds)
        out_names = [o.name for o in sess.get_outputs()]
    case_dir = os.path.join(GOLDEN, "ref", key.replace("/", "-"), name)
    os.makedirs(os.path.join(case_dir, "outputs"), exist_ok=True)
    case = {"model": key, "name": name, "dir": rel(case_dir), "inputs": {}, "outputs": {}}
    for k, v in feeds.items():
        case["inputs"][k] = {"file": f"{inputs_dir}/{k}.npy", "shape": list(v.shape), "dtype": str(v.dtype)}
    for k, v in zip(out_names, outs):
        f = os.path.join(case_dir, "outputs", k + ".npy")
        np.save(f, np.ascontiguousarray(v))
        case["outputs"][k] = {"file": rel(f), "shape": list(v.shape), "dtype": str(v.dtype)}
    with torch.no_grad():
        t = module(*[torch.from_numpy(feeds[k]) for k in INPUT_NAMES[graph]])
    case["torch_vs_ort_max_abs_diff"] = float(np.abs(t.numpy() - outs[0]).max())
    if native is not None:
        case["reference"] = ("ONNX Runtime node by node (each node a model of its own), float16 MatMul as Cast "
                             "to float32, MatMul, Cast to float16: see node_by_node() in golden/make/modern/generate_modern.py")
        case["ort_whole_graph_vs_reference_max_abs_diff"] = float(np.abs(native[0] - outs[0]).max())
    return case


def build_model():
    torch.manual_seed(0)
    model = build_random("tiny", seed=0)
    # The variant heads are created after the tiny model, from their own seed.
    return model


def make_module(model, graph, options, seed):
    torch.manual_seed(seed)
    return module_for(model, graph, options)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--opsets", help="also export the combined model at every opset 13-20 into this folder")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    model = build_model()
    models_dir = os.path.join(GOLDEN, "models", "modern")
    shutil.rmtree(models_dir, ignore_errors=True)
    os.makedirs(models_dir)
    for d in os.listdir(os.path.join(GOLDEN, "ref")):
        if d.startswith("modern-"):
            shutil.rmtree(os.path.join(GOLDEN, "ref", d))

    models, cases, exported = [], [], []
    for i, (key, graph, exporter, opset, options, case_names) in enumerate(FIXTURES):
        module = make_module(model, graph, options, seed=100 + i)
        path = os.path.join(GOLDEN, "models", key + ".onnx")
        export(module, graph, exporter, opset, path)
        exported.append((key, graph, exporter, options, case_names, module, path))
        print(key, "exported", flush=True)
    share_external_data([e[-1] for e in exported])
    for key, graph, exporter, options, case_names, module, path in exported:
        models.append(describe(path, key, exporter, options))
        for name in case_names:
            cases.append(reference_case(key, graph, path, module, name))

    manifest = {
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__, "numpy": np.__version__,
                     "onnxscript": __import__("onnxscript").__version__},
        "note": "made by golden/make/modern/run.sh; inputs are shared with the TorchScript fixtures of manifest.json",
        "onnxruntime_settings": {"provider": "CPUExecutionProvider", "intra_op_num_threads": 1,
                                 "graph_optimization_level": "ORT_DISABLE_ALL"},
        "models": models, "cases": cases,
    }
    write_json(os.path.join(GOLDEN, "manifest-modern.json"), manifest)

    if args.opsets:
        os.makedirs(args.opsets, exist_ok=True)
        for opset in range(13, 21):
            exporter = "dynamo" if opset >= 18 else "torchscript"
            for graph, options in (("lseg", {}), ("image", dict(arch_option=1, activation="lrelu", half=True))):
                module = make_module(model, graph, options, seed=200)
                p = os.path.join(args.opsets, f"{graph}_{exporter}_opset{opset}.onnx")
                try:
                    export(module, graph, exporter, opset, p)
                except Exception as e:  # torch refuses some (op, opset) pairs; report and go on
                    print(p, "EXPORT REFUSED by torch:", str(e).strip().splitlines()[-1], flush=True)
                    continue
                feeds = {k: np.load(os.path.join(GOLDEN, INPUTS[graph]["random3"], k + ".npy")) for k in INPUT_NAMES[graph]}
                ref = node_by_node(p, feeds)[0][0] if has_float16(p) else ort_session(p).run(None, feeds)[0]
                np.save(p[:-5] + "_ref.npy", ref)
                print(p, flush=True)


if __name__ == "__main__":
    main()
