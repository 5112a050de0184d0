"""Regenerates every golden fixture (see ../README.md). Called by run.sh; deterministic.

generate.py [--full]   (--full: also vitb32 / vitl16 full-size random exports into golden/full/)
"""
import argparse
import copy
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
import PIL
import skimage
import skimage.data
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clip_tokenizer  # noqa: E402
from lseg_model import CONFIGS, LSeg, LSegImageOnly, LSegTextOnly, build_random  # noqa: E402
from scenes import ALL_LABELS, make_scene, to_model_input  # noqa: E402

GOLDEN = os.path.dirname(HERE)
OPSET = 17
HELD_OUT_SEED_BASE = 1000
N_SCENES = 64
N_SCENES_FULL_TENSORS = 2
INTERMEDIATE_FULL_LIMIT = 1024  # elements; larger intermediates are stored strided
INTERMEDIATE_SAMPLES = 1024

PHOTOS = [  # (name, skimage.data function)
    ("astronaut", "astronaut"), ("chelsea", "chelsea"), ("coffee", "coffee"), ("rocket", "rocket"),
    ("camera", "camera"), ("hubble_deep_field", "hubble_deep_field"),
    ("immunohistochemistry", "immunohistochemistry"), ("retina", "retina"),
]
JPEG_PHOTO = "chelsea"


# ----------------------------------------------------------------------------- small helpers

def rel(path):
    return os.path.relpath(path, GOLDEN)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def json_safe(obj):
    """Standard JSON has no Infinity or NaN: write them as null (stats of masked tensors)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(json_safe(obj), f, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
        f.write("\n")


def save_png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")  # PIL writes no time chunk


def save_npy(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.ascontiguousarray(array))
    return {"file": rel(path), "shape": list(array.shape), "dtype": str(array.dtype)}


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # No graph rewriting: references follow the ONNX op semantics node by node.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("_") or "unnamed"


# ----------------------------------------------------------------------------- vocab + tokenizer

TOKENIZER_CASES = [
    "", "cat", "a photo of a cat", "red circle", "Background", "UPPER CASE LABEL", "MiXeD CaSe",
    "dog, cat; bird.", "it's", "don't stop", "they're we've I'll he'd I'm", "rock'n'roll",
    "tom & jerry", "tom &amp; jerry", "&lt;tag&gt; &quot;quoted&quot;", "&#39;single&#39;",
    "multiple    spaces", "  leading and trailing  ", "tab\tand\nnewline", "7 dwarfs", "2024-01-31",
    "3.14159", "r2d2 c3po", "café", "naïve résumé", "Straße", "日本語", "ñandú", "😀 smile",
    "🐱🐶", "red-green colour-blind", "semi_colon_snake", "x" * 30, "hello!!!???", "$100 @home #tag",
    "<start_of_text>", "a <end_of_text> b", "\u00e9", "e\u0301",  # composed vs decomposed accent
    "ﬁsh", "ｆｕｌｌｗｉｄｔｈ", "word " * 80, "supercalifragilisticexpialidocious " * 10,
    "person", "sky", "grass", "building", "other",
]


def make_vocab_and_tokenizer(versions):
    vocab_dir = os.path.join(GOLDEN, "vocab")
    os.makedirs(vocab_dir, exist_ok=True)
    shutil.copyfile(clip_tokenizer.vocab_path(), os.path.join(vocab_dir, "bpe_simple_vocab_16e6.txt.gz"))
    import ftfy
    import regex
    tok = clip_tokenizer.module().SimpleTokenizer(clip_tokenizer.vocab_path())
    ids = clip_tokenizer.tokenize(TOKENIZER_CASES)
    cases = []
    for text, row in zip(TOKENIZER_CASES, ids):
        bpe = tok.encode(text)
        cases.append({"text": text, "ids": [int(v) for v in row], "bpe_ids_untruncated": bpe,
                      "truncated": len(bpe) + 2 > 77})
    write_json(os.path.join(GOLDEN, "tokenizer", "cases.json"), {
        "tokenizer": f"open_clip_torch {clip_tokenizer.OPEN_CLIP_VERSION}: open_clip/tokenizer.py "
                     "tokenize() (SimpleTokenizer, clean='lower'), loaded directly from the wheel",
        "ftfy_version": ftfy.__version__, "regex_version": importlib.metadata.version("regex"),
        "context_length": 77, "sot": 49406, "eot": 49407, "pad": 0,
        "truncation": "ids[:77] then ids[76] = EOT",
        "cases": cases,
    })
    with open(os.path.join(vocab_dir, "SOURCE.md"), "w") as f:
        f.write(f"""# bpe_simple_vocab_16e6.txt.gz

OpenAI CLIP's BPE merges file, byte-identical copy of `open_clip/bpe_simple_vocab_16e6.txt.gz`
inside the PyPI wheel `open_clip_torch-{clip_tokenizer.OPEN_CLIP_VERSION}-py3-none-any.whl`
(`pip download --no-deps open_clip_torch=={clip_tokenizer.OPEN_CLIP_VERSION}`; MIT licence, originally from
github.com/openai/CLIP). sha256: {sha256(os.path.join(vocab_dir, "bpe_simple_vocab_16e6.txt.gz"))}

The reference ids in ../tokenizer/cases.json were produced by that wheel's own
`open_clip/tokenizer.py` (`tokenize()`), with ftfy {ftfy.__version__} and regex {importlib.metadata.version("regex")}.
""")
    versions["open_clip_torch"] = clip_tokenizer.OPEN_CLIP_VERSION
    versions["ftfy"] = ftfy.__version__
    versions["regex"] = importlib.metadata.version("regex")


# ----------------------------------------------------------------------------- photos + scenes

def make_photos():
    out = os.path.join(GOLDEN, "photos")
    os.makedirs(out, exist_ok=True)
    entries = []
    for name, fn in PHOTOS:
        arr = getattr(skimage.data, fn)()
        img = Image.fromarray(arr)
        scale = 256 / max(img.size)
        if scale < 1:
            img = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), Image.LANCZOS)
        path = os.path.join(out, f"{name}.png")
        img.save(path, format="PNG")
        entries.append({"name": name, "file": rel(path), "source": f"skimage.data.{fn}()",
                        "size": list(img.size), "mode": img.mode})
        if name == JPEG_PHOTO:
            jpath = os.path.join(out, f"{name}.jpg")
            img.save(jpath, format="JPEG", quality=90, optimize=False, progressive=False)
            entries.append({"name": name + "_jpeg", "file": rel(jpath), "source": f"skimage.data.{fn}()",
                            "size": list(img.size), "mode": img.mode, "jpeg_quality": 90})
    with open(os.path.join(out, "SOURCES.md"), "w") as f:
        f.write(f"# Photos\n\nFrom scikit-image {skimage.__version__}'s bundled data (`skimage.data`), "
                "downscaled with PIL LANCZOS so the longer side is at most 256 px, written by PIL as PNG "
                f"(and {JPEG_PHOTO}.jpg as baseline JPEG, quality 90, 4:2:0). camera.png is 8-bit greyscale.\n\n")
        for e in entries:
            f.write(f"- `{os.path.basename(e['file'])}`: {e['source']}, {e['size'][0]}x{e['size'][1]} {e['mode']}\n")
    return entries


def photo_input(file, size):
    """Decoded photo (as written) -> RGB, PIL bilinear resize to size x size -> normalised."""
    img = Image.open(os.path.join(GOLDEN, file)).convert("RGB").resize((size, size), Image.BILINEAR)
    return to_model_input(np.asarray(img))


def make_scenes():
    out = os.path.join(GOLDEN, "scenes")
    labels = {}
    for i in range(N_SCENES):
        rgb, mask, lab = make_scene(HELD_OUT_SEED_BASE + i)
        save_png(os.path.join(out, f"scene_{i:03d}.png"), rgb)
        save_png(os.path.join(out, f"scene_{i:03d}_mask.png"), mask)
        labels[f"scene_{i:03d}"] = lab
    write_json(os.path.join(out, "labels.json"), {
        "note": "mask pixel value = index into the scene's label list; scene i uses seed "
                f"{HELD_OUT_SEED_BASE} + i (training used seeds >= 1000000)",
        "all_labels": ALL_LABELS, "scenes": labels})
    return labels


# ----------------------------------------------------------------------------- export

def export_models(model: LSeg, outdir, variants):
    """Exports combined / text / image models with torch.onnx.export (TorchScript exporter)."""
    os.makedirs(outdir, exist_ok=True)
    # Export a copy: with torch 1.13, the vitb32 module computed different (wrong) outputs in
    # eager mode after torch.onnx.export, while the exported graph matched the pristine module.
    model = copy.deepcopy(model)
    s = model.cfg.image_size
    image = torch.zeros(1, 3, s, s)
    tokens = torch.from_numpy(clip_tokenizer.tokenize(["a", "b", "c"]))
    feats = torch.nn.functional.normalize(torch.ones(3, 512), dim=-1)
    common = dict(do_constant_folding=True, export_params=True)
    paths = {}
    with torch.no_grad():
        p = os.path.join(outdir, "lseg.onnx")
        torch.onnx.export(model, (image, tokens), p, opset_version=OPSET, input_names=["image", "tokens"],
                          output_names=["logits"], dynamic_axes={"tokens": {0: "N"}, "logits": {1: "N"}}, **common)
        paths["lseg"] = p
        p = os.path.join(outdir, "text.onnx")
        torch.onnx.export(LSegTextOnly(model), (tokens,), p, opset_version=OPSET, input_names=["tokens"],
                          output_names=["text_features"],
                          dynamic_axes={"tokens": {0: "N"}, "text_features": {0: "N"}}, **common)
        paths["text"] = p
        p = os.path.join(outdir, "image.onnx")
        torch.onnx.export(LSegImageOnly(model), (image, feats), p, opset_version=OPSET,
                          input_names=["image", "text_features"], output_names=["logits"],
                          dynamic_axes={"text_features": {0: "N"}, "logits": {1: "N"}}, **common)
        paths["image"] = p
        if "opset14" in variants:
            p = os.path.join(outdir, "lseg_opset14.onnx")
            torch.onnx.export(model, (image, tokens), p, opset_version=14, input_names=["image", "tokens"],
                              output_names=["logits"], dynamic_axes={"tokens": {0: "N"}, "logits": {1: "N"}},
                              **common)
            paths["lseg_opset14"] = p
        if "external" in variants:
            p = os.path.join(outdir, "lseg_external.onnx")
            data = os.path.join(outdir, "lseg_external.onnx.data")
            if os.path.exists(data):
                os.remove(data)
            m = onnx.load(paths["lseg"])
            onnx.save_model(m, p, save_as_external_data=True, all_tensors_to_one_file=True,
                            location="lseg_external.onnx.data", size_threshold=256, convert_attribute=False)
            paths["lseg_external"] = p
    return paths


def describe_model(path, opset_default):
    m = onnx.load(path, load_external_data=False)
    onnx.checker.check_model(path)

    def vi(v):
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
        return {"name": v.name, "elem_type": onnx.TensorProto.DataType.Name(t.elem_type).lower(), "shape": dims}

    ops = sorted({n.op_type for n in m.graph.node})
    ext = []
    for init in m.graph.initializer:
        for kv in init.external_data:
            if kv.key == "location" and kv.value not in ext:
                ext.append(kv.value)
    entry = {
        "path": rel(path), "sha256": sha256(path), "bytes": os.path.getsize(path),
        "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0],
        "ir_version": m.ir_version, "producer": f"{m.producer_name} {m.producer_version}",
        "inputs": [vi(v) for v in m.graph.input], "outputs": [vi(v) for v in m.graph.output],
        "node_count": len(m.graph.node), "op_types": ops,
        "initializer_count": len(m.graph.initializer),
    }
    if ext:
        d = os.path.join(os.path.dirname(path), ext[0])
        entry["external_data"] = {"path": rel(d), "sha256": sha256(d), "bytes": os.path.getsize(d)}
    return entry


# ----------------------------------------------------------------------------- references

def run_case(model_key, session_path, case_dir, feeds, torch_fn=None, mask=True, extra=None):
    sess = ort_session(session_path)
    outs = sess.run(None, feeds)
    names = [o.name for o in sess.get_outputs()]
    case = {"model": model_key, "dir": rel(case_dir), "inputs": {}, "outputs": {}}
    for k, v in feeds.items():
        case["inputs"][k] = save_npy(os.path.join(case_dir, "inputs", f"{k}.npy"), v)
    for k, v in zip(names, outs):
        case["outputs"][k] = save_npy(os.path.join(case_dir, "outputs", f"{k}.npy"), v)
    if mask and "logits" in names:
        lg = outs[names.index("logits")]
        m = lg[0].argmax(axis=0).astype(np.uint8)
        save_png(os.path.join(case_dir, "mask.png"), m)
        case["mask"] = rel(os.path.join(case_dir, "mask.png"))
    if torch_fn is not None:
        with torch.no_grad():
            t = torch_fn()
        case["torch_vs_ort_max_abs_diff"] = float(np.abs(t.numpy() - outs[0]).max())
    if extra:
        case.update(extra)
    return case, dict(zip(names, outs))


def reference_cases(stem, model, paths, photos, scene_labels, cases_out, split_cases=None, skip=()):
    """Combined / text / image references for one model set (stem: 'tiny' or 'trained' ...)."""
    s = model.cfg.image_size
    rng = np.random.RandomState(7)
    random_image = rng.standard_normal((1, 3, s, s)).astype(np.float32)
    astro = next(p for p in photos if p["name"] == "astronaut")["file"]
    cat_jpg = next(p for p in photos if p["name"] == JPEG_PHOTO + "_jpeg")["file"]
    specs = [
        ("random3", random_image, ["red circle", "a photo of a cat", "background"], "random normal (seed 7)"),
        ("photo", photo_input(astro, s), ["person", "sky", "rocket", "grass", "background", "other"], astro),
        ("n1", photo_input(cat_jpg, s), ["cat"], cat_jpg),
    ]
    specs = [sp for sp in specs if sp[0] not in skip]
    if scene_labels is not None:
        specs = [sp for sp in specs if sp[0] == "photo"]  # trained: photo + scenes (fixture size)
        for i in range(N_SCENES_FULL_TENSORS):
            key = f"scene_{i:03d}"
            rgb = np.asarray(Image.open(os.path.join(GOLDEN, "scenes", key + ".png")))
            specs.append((key, to_model_input(rgb), scene_labels[key], f"scenes/{key}.png"))
    short = stem.split("/")[-1]
    ref_root = os.path.join(GOLDEN, "full", "ref") if stem.startswith("full/") else os.path.join(GOLDEN, "ref")
    for name, image, labels, source in specs:
        tokens = clip_tokenizer.tokenize(labels)
        extra = {"labels": labels, "image_source": source}
        case, _ = run_case(f"{stem}/lseg", paths["lseg"], os.path.join(ref_root, f"{short}-lseg", name),
                           {"image": image, "tokens": tokens},
                           lambda: model(torch.from_numpy(image), torch.from_numpy(tokens)), extra=extra)
        cases_out.append(dict(case, name=name))
        if split_cases is not None and name not in split_cases:
            continue  # text-only / image-only references only for a few cases (fixture size)
        case, outs = run_case(f"{stem}/text", paths["text"], os.path.join(ref_root, f"{short}-text", name),
                              {"tokens": tokens}, lambda: model.text(torch.from_numpy(tokens)), mask=False,
                              extra=extra)
        cases_out.append(dict(case, name=name))
        feats = outs["text_features"]
        case, _ = run_case(f"{stem}/image", paths["image"], os.path.join(ref_root, f"{short}-image", name),
                           {"image": image, "text_features": feats},
                           lambda: LSegImageOnly(model)(torch.from_numpy(image), torch.from_numpy(feats)),
                           extra=dict(extra, text_features_from=f"{short}-text/{name}"))
        cases_out.append(dict(case, name=name))
        for variant in ("lseg_opset14", "lseg_external"):
            if variant in paths and name == "random3":
                d = os.path.join(ref_root, f"{short}-{variant.replace('_', '-')}", name)
                case, _ = run_case(f"{stem}/{variant}", paths[variant], d, {"image": image, "tokens": tokens},
                                   lambda: model(torch.from_numpy(image), torch.from_numpy(tokens)), extra=extra)
                cases_out.append(dict(case, name=name))


def dump_intermediates(model_path, case_dir, feeds, out_dir):
    """Every node output of the model under ORT, one npy per tensor, plus index.json."""
    m = onnx.load(model_path)
    existing = {o.name for o in m.graph.output}
    order = []
    for node in m.graph.node:
        for o in node.output:
            if o and o not in existing:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                existing.add(o)
            if o:
                order.append((o, node.name, node.op_type))
    tmp = os.path.join(out_dir, "_all_outputs.onnx")
    os.makedirs(out_dir, exist_ok=True)
    onnx.save(m, tmp)
    sess = ort_session(tmp)
    names = [o.name for o in sess.get_outputs()]
    values = dict(zip(names, sess.run(None, feeds)))
    os.remove(tmp)
    index = []
    used = set()
    for i, (name, node_name, op) in enumerate(order):
        v = values[name]
        fname = f"{i:04d}_{sanitize(name)}"[:120]
        while fname in used:
            fname += "_"
        used.add(fname)
        entry = {"index": i, "tensor": name, "node": node_name, "op_type": op,
                 "shape": list(v.shape), "dtype": str(v.dtype), "numel": int(v.size)}
        flat = v.reshape(-1)
        if v.size <= INTERMEDIATE_FULL_LIMIT:
            entry["stored"] = "full"
            np.save(os.path.join(out_dir, fname + ".npy"), v)
        else:
            stride = int(math.ceil(v.size / INTERMEDIATE_SAMPLES))
            entry["stored"] = "strided"
            entry["stride"] = stride
            np.save(os.path.join(out_dir, fname + ".npy"), np.ascontiguousarray(flat[::stride]))
        entry["file"] = rel(os.path.join(out_dir, fname + ".npy"))
        if v.dtype.kind == "f" and v.size:
            finite = flat[np.isfinite(flat)]
            entry["stats"] = {"min": float(flat.min()), "max": float(flat.max()),
                              "finite_mean": float(finite.astype(np.float64).mean()) if finite.size else None,
                              "finite_abs_sum": float(np.abs(finite.astype(np.float64)).sum()),
                              "nonfinite": int(flat.size - finite.size)}
        index.append(entry)
    write_json(os.path.join(out_dir, "index.json"), {
        "model": rel(model_path), "case": rel(case_dir),
        "note": f"every node output in graph order; tensors over {INTERMEDIATE_FULL_LIMIT} elements are "
                "stored as flat[::stride] of the row-major data",
        "tensors": index})
    return {"model": rel(model_path), "case": rel(case_dir), "index": rel(os.path.join(out_dir, "index.json")),
            "tensor_count": len(index)}


# ----------------------------------------------------------------------------- trained evaluation

def evaluate_trained(model_path, scene_labels):
    sess = ort_session(model_path)
    inter, union = {}, {}
    per_scene = []
    out_dir = os.path.join(GOLDEN, "ref", "trained-lseg", "scenes")
    os.makedirs(out_dir, exist_ok=True)
    for i in range(N_SCENES):
        key = f"scene_{i:03d}"
        labels = scene_labels[key]
        rgb = np.asarray(Image.open(os.path.join(GOLDEN, "scenes", key + ".png")))
        gt = np.asarray(Image.open(os.path.join(GOLDEN, "scenes", key + "_mask.png")))
        logits = sess.run(None, {"image": to_model_input(rgb), "tokens": clip_tokenizer.tokenize(labels)})[0]
        pred = logits[0].argmax(0).astype(np.uint8)
        save_png(os.path.join(out_dir, f"{key}_pred.png"), pred)
        ious = []
        for j, lab in enumerate(labels):
            a, b = pred == j, gt == j
            it, un = int((a & b).sum()), int((a | b).sum())
            inter[lab] = inter.get(lab, 0) + it
            union[lab] = union.get(lab, 0) + un
            if un:
                ious.append(it / un)
        per_scene.append(float(np.mean(ious)))
    per_class = {k: inter[k] / union[k] for k in sorted(union) if union[k]}
    return {
        "miou": float(np.mean(list(per_class.values()))),
        "definition": "per label string: IoU = sum of intersections / sum of unions over the 64 held-out "
                      "scenes (argmax of ONNX Runtime logits over each scene's own label list); mIoU = mean "
                      "over labels with a non-empty union",
        "per_class_iou": per_class,
        "mean_per_scene_miou": float(np.mean(per_scene)),
        "pixel_accuracy_note": "see predictions in ref/trained-lseg/scenes/scene_XXX_pred.png",
        "predictions": [rel(os.path.join(out_dir, f"scene_{i:03d}_pred.png")) for i in range(N_SCENES)],
    }


# ----------------------------------------------------------------------------- main

def versions_dict():
    return {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": ort.__version__, "numpy": np.__version__, "pillow": PIL.__version__,
            "scikit-image": skimage.__version__}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--trained-checkpoint", default=os.path.join(HERE, "build", "trained_tiny.pt"))
    ap.add_argument("--full-only", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    versions = versions_dict()
    if not args.full_only:
        for d in ("models", "ref", "photos", "scenes", "tokenizer", "vocab", "intermediates"):
            shutil.rmtree(os.path.join(GOLDEN, d), ignore_errors=True)
        make_vocab_and_tokenizer(versions)
        photos = make_photos()
        scene_labels = make_scenes()

        models, cases, intermediates = [], [], []
        tiny = build_random("tiny", seed=0)
        paths = export_models(tiny, os.path.join(GOLDEN, "models", "tiny"), {"opset14", "external"})
        for k, p in sorted(paths.items()):
            models.append(dict(describe_model(p, OPSET), key=f"tiny/{k}", config="tiny", weights="random (seed 0)"))
        reference_cases("tiny", tiny, paths, photos, None, cases, {"random3", "n1"})
        case = next(c for c in cases if c["model"] == "tiny/lseg" and c["name"] == "random3")
        feeds = {k: np.load(os.path.join(GOLDEN, v["file"])) for k, v in case["inputs"].items()}
        intermediates.append(dump_intermediates(paths["lseg"], os.path.join(GOLDEN, case["dir"]), feeds,
                                                os.path.join(GOLDEN, "intermediates", "tiny-lseg", "random3")))

        trained_info = None
        if os.path.exists(args.trained_checkpoint):
            ck = torch.load(args.trained_checkpoint, map_location="cpu")
            trained = LSeg(CONFIGS["trained"])
            trained.load_state_dict(ck["state_dict"])
            trained.eval()
            paths = export_models(trained, os.path.join(GOLDEN, "models", "trained"), set())
            for k, p in sorted(paths.items()):
                models.append(dict(describe_model(p, OPSET), key=f"trained/{k}", config="trained",
                                   weights="trained on synthetic scenes (train.py)"))
            reference_cases("trained", trained, paths, photos, scene_labels, cases, {"scene_000"})
            trained_info = evaluate_trained(paths["lseg"], scene_labels)
            trained_info["training"] = {k: ck[k] for k in ("steps", "batch", "lr")}
            trained_info["training"]["cpu_seconds_reported"] = round(ck["seconds"])
            trained_info["training"]["checkpoint_sha256"] = sha256(args.trained_checkpoint)
        else:
            print("WARNING: no trained checkpoint; trained fixtures skipped", file=sys.stderr)

        manifest = {
            "versions": versions,
            "export": {"exporter": "torch.onnx.export (TorchScript)", "default_opset": OPSET,
                       "do_constant_folding": True, "dynamic_axes": "tokens/text_features dim 0 and logits dim 1 = 'N'"},
            "onnxruntime_settings": {"provider": "CPUExecutionProvider", "intra_op_num_threads": 1,
                                     "graph_optimization_level": "ORT_DISABLE_ALL"},
            "preprocessing": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "scale": "pixel/255",
                              "layout": "NCHW float32, RGB",
                              "input_size": {k: CONFIGS[k].image_size for k in CONFIGS},
                              "photo_resize": "PIL Image.resize(size, BILINEAR) of the decoded RGB file"},
            "logit_scale": float(np.exp(np.log(1 / 0.07)).astype(np.float32)),
            "configs": {k: vars(v) for k, v in CONFIGS.items()},
            "models": models, "cases": cases, "intermediates": intermediates,
            "photos": photos,
            "scenes": {"labels": "scenes/labels.json", "count": N_SCENES, "image": "scenes/scene_XXX.png",
                       "mask": "scenes/scene_XXX_mask.png"},
            "tokenizer": {"cases": "tokenizer/cases.json", "vocab": "vocab/bpe_simple_vocab_16e6.txt.gz"},
            "trained": trained_info,
        }
        write_json(os.path.join(GOLDEN, "manifest.json"), manifest)
        if trained_info:
            print("trained mIoU (ORT, 64 held-out scenes):", trained_info["miou"])

    if args.full or args.full_only:
        make_full(versions)


def make_full(versions):
    """Full-size random-weight exports (git-ignored) and their references in golden/full/."""
    full = os.path.join(GOLDEN, "full")
    photos = [{"name": "astronaut", "file": "photos/astronaut.png"},
              {"name": JPEG_PHOTO + "_jpeg", "file": f"photos/{JPEG_PHOTO}.jpg"}]
    manifest = {"versions": versions, "models": [], "cases": []}
    for name, seed in (("vitb32", 32), ("vitl16", 16)):
        if os.environ.get("LSEG_FULL_ONLY") and name not in os.environ["LSEG_FULL_ONLY"].split(","):
            continue
        shutil.rmtree(os.path.join(full, "models", name), ignore_errors=True)
        model = build_random(name, seed)
        paths = export_models(model, os.path.join(full, "models", name), set())
        for k, p in sorted(paths.items()):
            manifest["models"].append(dict(describe_model(p, OPSET), key=f"full/{name}/{k}", config=name,
                                           weights=f"random (seed {seed})"))
        cases = []
        reference_cases(f"full/{name}", model, paths, photos, None, cases, {"random3"}, skip=("n1",))
        manifest["cases"] += cases
        del model
        write_json(os.path.join(full, "manifest.json"), manifest)
        print("full", name, "done", flush=True)


if __name__ == "__main__":
    main()
