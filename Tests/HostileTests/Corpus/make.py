#!/usr/bin/env python3
"""Generates the malformed-input corpus that HostileTests feeds to the built CLIs.

Every file under onnx/, pack/, npy/ and image/ must be rejected (exit 2, one stderr line naming
the file, nothing written). base/ holds the valid inputs the mutations start from; the tests
check those are accepted, so a rejection is never for a trivial reason.

Run from the repository root after `swift build` (the base pack is made by our own converter):
    python3 Tests/HostileTests/Corpus/make.py
Needs: onnx, numpy (pip) and the zstd command. Deterministic: same tools, same bytes.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
M64 = (1 << 64) - 1


def out(folder, name, data):
    path = os.path.join(HERE, folder, name)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- XXH64 (formats/PACK.md)
P1, P2, P3, P4, P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                      9650029242287828579, 2870177450012600261)


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def xxh_round(acc, lane):
    acc = (acc + lane * P2) & M64
    return (rotl(acc, 31) * P1) & M64


def xxh64(data, seed=0):
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = xxh_round(v[k], struct.unpack_from("<Q", data, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M64
        for k in range(4):
            h = ((h ^ xxh_round(0, v[k])) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h ^= xxh_round(0, struct.unpack_from("<Q", data, i)[0])
        h = (rotl(h, 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", data, i)[0] * P1) & M64
        h = (rotl(h, 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h ^= (data[i] * P5) & M64
        h = (rotl(h, 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


# ---------------------------------------------------------------- base inputs
def base_model():
    """x[1,64] -> MatMul W[64,32] -> Add B -> Relu -> y[1,32]. W is low-entropy so the pack
    stores it shuffle+zstd; B is small so it is stored raw: both codecs are covered."""
    w = (np.arange(64 * 32, dtype=np.float32).reshape(64, 32) % 7 - 3) * 0.25
    b = np.linspace(-1, 1, 32, dtype=np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"], name="matmul"),
             helper.make_node("Add", ["h", "B"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "base",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])],
                              [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                             producer_name="hostile-corpus")


def save(model, name, check=False):
    if check:
        onnx.checker.check_model(model)
    out("onnx", name, model.SerializeToString())


def onnx_corpus(base):
    raw = base.SerializeToString()
    # opset_import is the last field written, so every strict prefix loses it (or is torn).
    for cut in sorted(set([0, 1, 2, 5, 10, 17, 40, 100, 300, 1000, 4000, len(raw) // 2,
                           len(raw) - 20, len(raw) - 5, len(raw) - 1])):
        out("onnx", f"truncated_at_{cut}.onnx", raw[:cut])
    out("onnx", "not_protobuf.onnx", b"this is a text file, not an ONNX model\n")
    out("onnx", "random_bytes.onnx", bytes((i * 131 + 17) % 251 for i in range(600)))
    # A length prefix claiming 2^62 bytes of graph.
    out("onnx", "huge_length.onnx", b"\x08\x08\x3a" + bytes([0xff] * 8) + b"\x3f" + raw[:50])

    def variant(edit):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        edit(m)
        return m

    g = lambda m: m.graph
    save(variant(lambda m: setattr(m, "ir_version", 2)), "ir_version_2.onnx")
    save(variant(lambda m: m.ClearField("ir_version")), "no_ir_version.onnx")
    save(variant(lambda m: m.opset_import[0].__setattr__("version", 99)), "opset_99.onnx")
    save(variant(lambda m: m.opset_import[0].__setattr__("version", 3)), "opset_3.onnx")
    save(variant(lambda m: m.ClearField("opset_import")), "no_opset.onnx")
    save(variant(lambda m: m.opset_import.append(helper.make_opsetid("", 17))), "opset_twice.onnx")
    save(variant(lambda m: m.ClearField("graph")), "no_graph.onnx")

    def huge_dim(m):
        m.graph.initializer[1].dims[:] = [1 << 62]
    save(variant(huge_dim), "initializer_huge_dim.onnx")

    def overflow_dims(m):
        m.graph.initializer[1].dims[:] = [1 << 32, 1 << 32, 1 << 32]
    save(variant(overflow_dims), "initializer_dims_overflow.onnx")

    def negative_dim(m):
        m.graph.initializer[1].dims[:] = [-32]
    save(variant(negative_dim), "initializer_negative_dim.onnx")

    def short_data(m):
        m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:100]
    save(variant(short_data), "initializer_short_raw_data.onnx")

    def wrong_dtype(m):
        m.graph.initializer[1].data_type = TensorProto.DOUBLE  # 128 bytes of raw data: 16 doubles, dims say 32
    save(variant(wrong_dtype), "initializer_dtype_mismatch.onnx")

    def unknown_dtype(m):
        m.graph.initializer[1].data_type = 77
    save(variant(unknown_dtype), "initializer_unknown_dtype.onnx")

    def missing_initializer(m):
        del m.graph.initializer[1]
    save(variant(missing_initializer), "missing_initializer.onnx")

    def dangling_input(m):
        m.graph.node[1].input[0] = "nowhere"
    save(variant(dangling_input), "dangling_input.onnx")

    def cycle(m):
        # matmul consumes relu's output: matmul -> add -> relu -> matmul.
        m.graph.node[0].input[0] = "y"
    save(variant(cycle), "cyclic_graph.onnx")

    def self_loop(m):
        m.graph.node[2].input[0] = "y"
    save(variant(self_loop), "self_loop.onnx")

    def duplicate_output(m):
        m.graph.node[1].output[0] = "h"
    save(variant(duplicate_output), "duplicate_node_output.onnx")

    def duplicate_initializer(m):
        m.graph.initializer.append(m.graph.initializer[1])
    save(variant(duplicate_initializer), "duplicate_initializer.onnx")

    def unsupported(m):
        m.graph.node[2].op_type = "FrobnicateTensor"
    save(variant(unsupported), "unsupported_op.onnx")

    def custom_domain(m):
        m.graph.node[2].domain = "com.example"
    save(variant(custom_domain), "unknown_domain.onnx")

    def output_never_made(m):
        m.graph.output[0].name = "z"
    save(variant(output_never_made), "output_never_produced.onnx")

    def no_nodes(m):
        del m.graph.node[:]
    save(variant(no_nodes), "no_nodes.onnx")

    def huge_input_dim(m):
        m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1 << 62
    save(variant(huge_input_dim), "input_huge_dim.onnx")

    def bad_attr(m):
        m.graph.node.append(helper.make_node("Transpose", ["y"], ["t"], name="transpose", perm=[5, 0]))
        m.graph.output[0].name = "t"
    save(variant(bad_attr), "transpose_bad_perm.onnx")

    def external(location, offset=None, length=None):
        def edit(m):
            t = m.graph.initializer[1]
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            entries = [("location", location)]
            if offset is not None:
                entries.append(("offset", str(offset)))
            if length is not None:
                entries.append(("length", str(length)))
            for k, v in entries:
                e = t.external_data.add()
                e.key, e.value = k, v
        return edit
    save(variant(external("../../../etc/passwd")), "external_escapes_folder.onnx")
    save(variant(external("/etc/passwd")), "external_absolute_path.onnx")
    save(variant(external("missing.bin")), "external_missing_file.onnx")
    out("onnx", "external.bin", bytes(256))  # 256 bytes beside the models
    save(variant(external("external.bin", offset=1 << 40)), "external_offset_past_end.onnx")
    save(variant(external("external.bin", offset=0, length=1 << 62)), "external_length_huge.onnx")
    save(variant(external("external.bin", offset=200)), "external_short.onnx")
    save(variant(external("external.bin", offset=-8)), "external_negative_offset.onnx")

    # Nesting that libprotobuf-c would follow by recursion: TypeProto.sequence_type ->
    # Sequence.elem_type -> TypeProto ... and NodeProto.attribute -> AttributeProto.g ->
    # GraphProto.node -> NodeProto ...
    type_proto = nested([4, 1], 20000)
    vi = b"\x0a\x01v" + b"\x12" + varint(len(type_proto)) + type_proto  # ValueInfoProto{name, type}
    out("onnx", "deeply_nested_types.onnx", model_bytes(b"\x62" + varint(len(vi)) + vi))  # GraphProto.value_info
    node = nested([5, 6, 1], 10000)            # NodeProto{attribute{g{node{...}}}}
    out("onnx", "deeply_nested_subgraphs.onnx", model_bytes(b"\x0a" + varint(len(node)) + node))
    # 100000 empty nodes in 200 KB: repeated-field counts come from the file.
    out("onnx", "many_empty_nodes.onnx", model_bytes(b"\x0a\x00" * 100000))


def model_bytes(graph):
    """ModelProto{ir_version 8, graph, opset_import{version 17}} around raw GraphProto bytes."""
    return b"\x08\x08" + b"\x3a" + varint(len(graph)) + graph + b"\x42\x02\x10\x11"


def nested(chain, depth):
    """`depth` repetitions of `chain` (field numbers, outermost first), each a length-delimited
    field holding the next; the innermost is empty. Linear time: sizes are summed inside out."""
    headers, inner = [], 0
    for number in reversed(chain * depth):
        header = bytes([number << 3 | 2]) + varint(inner)
        headers.append(header)
        inner += len(header)
    return b"".join(reversed(headers))


def varint(n):
    b = bytearray()
    while True:
        c = n & 0x7f
        n >>= 7
        if n:
            b.append(c | 0x80)
        else:
            b.append(c)
            return bytes(b)


# ---------------------------------------------------------------- packs
class PackFile:
    """A parsed pack that can be re-serialized with fields changed and checksums fixed."""

    def __init__(self, data):
        self.data = bytearray(data)
        h = struct.unpack_from("<8sHHIQQQQQQQQQQQQQ", data, 0)
        (_, self.major, self.minor, self.header_size, self.file_size, self.data_offset, self.data_size,
         self.dir_offset, self.dir_size, self.count, self.graph_offset, self.graph_size, self.graph_raw,
         _, _, _) = h[:16]

    def directory(self):
        return bytearray(self.data[self.dir_offset:self.dir_offset + self.dir_size])

    def graph_json(self):
        frame = bytes(self.data[self.graph_offset:self.graph_offset + self.graph_size])
        return json.loads(subprocess.run(["zstd", "-d", "-c", "-q"], input=frame, check=True,
                                         stdout=subprocess.PIPE).stdout)

    def entries(self):
        d, i, res = self.directory(), 0, []
        for _ in range(self.count):
            size, dtype, codec, rank, flags, name_len = struct.unpack_from("<IBBBBI", d, i)
            res.append(dict(at=i, size=size, rank=rank, name_len=name_len,
                            offset=struct.unpack_from("<Q", d, i + 16)[0]))
            i += size
        return res

    def build(self, directory=None, graph=None, graph_frame=None, header_edit=None, fix_checksums=True):
        """Header + data as is, then `directory` and a graph section (JSON object or raw frame)."""
        directory = self.directory() if directory is None else directory
        if graph_frame is None:
            if graph is None:
                graph_frame = bytes(self.data[self.graph_offset:self.graph_offset + self.graph_size])
                raw_size = self.graph_raw
            else:
                text = json.dumps(graph, sort_keys=True, separators=(",", ":")).encode()
                graph_frame = zstd(text)
                raw_size = len(text)
        else:
            raw_size = self.graph_raw
        body = bytearray(self.data[:self.data_offset + self.data_size])
        dir_offset = len(body)
        body += directory
        graph_offset = len(body)
        body += graph_frame
        fields = dict(file_size=len(body), dir_offset=dir_offset, dir_size=len(directory),
                      graph_offset=graph_offset, graph_size=len(graph_frame), graph_raw=raw_size,
                      dir_checksum=xxh64(bytes(directory)), graph_checksum=xxh64(bytes(graph_frame)),
                      major=self.major, count=self.count, header_size=self.header_size)
        if header_edit:
            header_edit(fields)
        struct.pack_into("<HHI", body, 8, fields["major"], self.minor, fields["header_size"])
        struct.pack_into("<QQQQQQQQQQQQ", body, 16, fields["file_size"], self.data_offset, self.data_size,
                         fields["dir_offset"], fields["dir_size"], fields["count"], fields["graph_offset"],
                         fields["graph_size"], fields["graph_raw"], fields["dir_checksum"],
                         fields["graph_checksum"], 0)
        if fix_checksums:
            struct.pack_into("<Q", body, 104, xxh64(bytes(body[:self.header_size])))
        return bytes(body)


def zstd(data):
    tmp = os.path.join(HERE, ".zstd-input")
    with open(tmp, "wb") as f:
        f.write(data)
    try:
        return subprocess.run(["zstd", "-q", "-c", "--check", "-1", tmp], check=True, stdout=subprocess.PIPE).stdout
    finally:
        os.remove(tmp)


def pack_corpus(raw):
    p = PackFile(raw)
    assert p.build() == raw, "re-serializing the base pack must reproduce it (checksums agree with ours)"
    n = len(raw)
    for cut in sorted(set([0, 4, 8, 11, 64, 127, 128, p.data_offset + 10, p.dir_offset, p.dir_offset + 30,
                           p.graph_offset, p.graph_offset + p.graph_size // 2, n - 1])):
        out("pack", f"truncated_at_{cut}.pack", raw[:cut])
    out("pack", "trailing_bytes.pack", raw + b"\0" * 64)
    out("pack", "bad_magic.pack", b"LSEGPACX" + raw[8:])
    out("pack", "onnx_file_as_pack.pack", open(os.path.join(HERE, "base", "model.onnx"), "rb").read())
    out("pack", "major_version_3.pack", p.build(header_edit=lambda f: f.update(major=3)))
    out("pack", "header_size_4104.pack", p.build(header_edit=lambda f: f.update(header_size=4104)))
    out("pack", "header_size_unaligned.pack", p.build(header_edit=lambda f: f.update(header_size=130)))
    out("pack", "file_size_wrong.pack", p.build(header_edit=lambda f: f.update(file_size=f["file_size"] + 8)))
    out("pack", "directory_outside_file.pack", p.build(header_edit=lambda f: f.update(dir_offset=1 << 62)))
    out("pack", "directory_size_overflow.pack", p.build(header_edit=lambda f: f.update(dir_size=M64 - 8)))
    out("pack", "graph_offset_overflow.pack", p.build(header_edit=lambda f: f.update(graph_offset=M64 - 4)))
    out("pack", "tensor_count_huge.pack", p.build(header_edit=lambda f: f.update(count=1 << 60)))
    out("pack", "graph_raw_size_huge.pack", p.build(header_edit=lambda f: f.update(graph_raw=1 << 40)))
    out("pack", "graph_raw_size_wrong.pack", p.build(header_edit=lambda f: f.update(graph_raw=f["graph_raw"] + 1)))
    out("pack", "header_checksum_wrong.pack", p.build(header_edit=lambda f: f.update(dir_checksum=f["dir_checksum"] ^ 1)))

    # Single bit flips in each section (detected by the checksums).
    entries = p.entries()
    big = max(entries, key=lambda e: e["size"])
    for label, at in [("magic", 3), ("version", 8), ("header_field", 40), ("header_checksum", 106),
                      ("reserved", 120), ("directory", p.dir_offset + 5), ("directory_name", p.dir_offset + 49),
                      ("graph_section", p.graph_offset + p.graph_size // 2),
                      ("blob_first", entries[0]["offset"] + 3), ("blob_last", entries[-1]["offset"] + 1)]:
        b = bytearray(raw)
        b[at] ^= 0x10
        out("pack", f"bitflip_{label}.pack", bytes(b))

    # Directory edits with every checksum fixed, so the field checks themselves are exercised.
    def dir_edit(name, edit):
        d = p.directory()
        edit(d)
        out("pack", name, p.build(directory=d))
    e0, e1 = entries[0], entries[1]
    dir_edit("entry_huge_dim.pack", lambda d: struct.pack_into("<q", d, e0["at"] + 48, 1 << 62))
    dir_edit("entry_negative_dim.pack", lambda d: struct.pack_into("<q", d, e0["at"] + 48, -4))
    dir_edit("entry_dims_overflow.pack", lambda d: [struct.pack_into("<q", d, e0["at"] + 48 + 8 * k, 1 << 40)
                                                    for k in range(e0["rank"])])
    dir_edit("entry_raw_size_wrong.pack", lambda d: struct.pack_into("<Q", d, e0["at"] + 32, 12))
    dir_edit("entry_unknown_dtype.pack", lambda d: struct.pack_into("<B", d, e0["at"] + 4, 99))
    dir_edit("entry_unknown_codec.pack", lambda d: struct.pack_into("<B", d, e0["at"] + 5, 7))
    dir_edit("entry_rank_huge.pack", lambda d: struct.pack_into("<B", d, e0["at"] + 6, 200))
    dir_edit("entry_size_zero.pack", lambda d: struct.pack_into("<I", d, e0["at"], 0))
    dir_edit("entry_size_past_directory.pack", lambda d: struct.pack_into("<I", d, e1["at"], 1 << 30))
    dir_edit("entry_name_length_huge.pack", lambda d: struct.pack_into("<I", d, e0["at"] + 8, 0xFFFFFFF0))
    dir_edit("entry_name_length_zero.pack", lambda d: struct.pack_into("<I", d, e0["at"] + 8, 0))
    dir_edit("entry_blob_outside_data.pack", lambda d: struct.pack_into("<Q", d, e0["at"] + 16, 1 << 50))
    dir_edit("entry_blob_unaligned.pack", lambda d: struct.pack_into("<Q", d, e0["at"] + 16, e0["offset"] + 8))
    dir_edit("entry_stored_size_huge.pack", lambda d: struct.pack_into("<Q", d, e0["at"] + 24, M64 - 100))
    dir_edit("entry_blob_checksum_wrong.pack", lambda d: struct.pack_into("<Q", d, big["at"] + 40, 12345))

    def same_name(d):
        n0 = d[e0["at"] + 48 + 8 * e0["rank"]: e0["at"] + 48 + 8 * e0["rank"] + e0["name_len"]]
        at = e1["at"] + 48 + 8 * e1["rank"]
        if e1["name_len"] == e0["name_len"]:
            d[at:at + e1["name_len"]] = n0
        else:  # make both names the same single letter
            d[at] = ord("Z")
            struct.pack_into("<I", d, e1["at"] + 8, 1)
            a0 = e0["at"] + 48 + 8 * e0["rank"]
            d[a0] = ord("Z")
            struct.pack_into("<I", d, e0["at"] + 8, 1)
    dir_edit("entry_duplicate_name.pack", same_name)

    def bad_utf8(d):
        d[e0["at"] + 48 + 8 * e0["rank"]] = 0xFF
    dir_edit("entry_name_not_utf8.pack", bad_utf8)

    # Graph-section edits (valid zstd, fixed checksums).
    base = p.graph_json()

    def graph_edit(name, edit):
        g = json.loads(json.dumps(base))
        edit(g)
        out("pack", name, p.build(graph=g))
    graph0 = lambda g: g["graphs"][0]
    nodes = lambda g: graph0(g)["nodes"]

    def cyclic(g):
        nodes(g)[0]["inputs"][0] = nodes(g)[-1]["outputs"][0]
    graph_edit("graph_cyclic.pack", cyclic)

    def undefined(g):
        nodes(g)[-1]["inputs"][0] = "nowhere"
    graph_edit("graph_undefined_input.pack", undefined)

    def duplicate_output(g):
        nodes(g)[-1]["outputs"][0] = graph0(g)["inputs"][0]["name"]
    graph_edit("graph_output_redefines_input.pack", duplicate_output)

    def missing_tensor(g):
        k = sorted(graph0(g)["initializers"])[0]
        graph0(g)["initializers"][k] = "no/such/tensor"
    graph_edit("graph_initializer_missing_tensor.pack", missing_tensor)

    def unknown_op(g):
        nodes(g)[0]["op"] = {"frobnicate": {}}
    graph_edit("graph_unknown_op.pack", unknown_op)

    def output_missing(g):
        graph0(g)["outputs"][0]["name"] = "never_made"
    graph_edit("graph_output_never_produced.pack", output_missing)

    def duplicate_graph(g):
        g["graphs"].append(json.loads(json.dumps(g["graphs"][0])))
    graph_edit("graph_duplicate_graph_name.pack", duplicate_graph)
    graph_edit("graph_not_an_object.pack", lambda g: g.clear() or g.update({"graphs": 5}))
    out("pack", "graph_not_json.pack", p.build(graph_frame=zstd(b"{not json"), header_edit=lambda f: f.update(graph_raw=9)))
    out("pack", "graph_not_zstd.pack", p.build(graph_frame=b"\x28\xb5\x2f\xfd" + bytes(40)))


# ---------------------------------------------------------------- npy
def npy(header, data=b"", major=1, magic=b"\x93NUMPY"):
    h = header.encode("latin-1")
    pad = (64 - (len(magic) + 2 + (2 if major == 1 else 4) + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    size = struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    return magic + bytes([major, 0]) + size + h + data


def npy_corpus():
    good = b"\0" * 256
    cases = {
        "empty.npy": b"",
        "bad_magic.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 64), }", good, magic=b"\x93NUMPZ"),
        "version_9.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 64), }", good, major=9),
        "header_past_end.npy": b"\x93NUMPY\x01\x00\xff\xff{'descr'",
        "header_length_v2_huge.npy": b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{'descr'",
        "header_not_dict.npy": npy("[1, 2, 3]", good),
        "header_unterminated.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 64", good),
        "header_missing_shape.npy": npy("{'descr': '<f4', 'fortran_order': False, }", good),
        "header_missing_descr.npy": npy("{'fortran_order': False, 'shape': (1, 64), }", good),
        "descr_complex.npy": npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1, 64), }", good * 2),
        "descr_big_endian.npy": npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 64), }", good),
        "descr_object.npy": npy("{'descr': '|O', 'fortran_order': False, 'shape': (1, 64), }", good * 2),
        "fortran_order.npy": npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 64), }", good),
        "shape_negative.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 64), }", good),
        "shape_huge.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 64), }", good),
        "shape_overflow.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", good),
        "shape_not_int.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1.5, 64), }", good),
        "shape_giant_literal.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 400 + ",), }", good),
        "data_truncated.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 64), }", good[:100]),
        "data_trailing.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 64), }", good + b"\0" * 12),
        "nested_parens.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 5000 + "), }", good),
    }
    for name, data in cases.items():
        out("npy", name, data)


# ---------------------------------------------------------------- images
def png_chunk(kind, body, crc=None):
    c = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", c & 0xffffffff)


def png(width, height, rows=None, colour=2, depth=8, ihdr_crc=None, idat=None, extra=b""):
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0), ihdr_crc)
    if idat is None:
        raw = rows if rows is not None else b"".join(b"\0" + bytes(3 * min(width, 64)) for _ in range(min(height, 64)))
        idat = zlib.compress(raw)
    return sig + ihdr + extra + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_with_size(width, height):
    """A baseline JPEG header claiming the size, with no scan data after it."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def image_corpus():
    photo = open(os.path.join(ROOT, "golden", "photos", "camera.png"), "rb").read()
    jpg = open(os.path.join(ROOT, "golden", "photos", "chelsea.jpg"), "rb").read()
    good = png(8, 8)
    cases = {
        "empty.png": b"",
        "signature_only.png": good[:8],
        "truncated_header.png": good[:20],
        "truncated_photo.png": photo[:len(photo) // 3],
        "ihdr_bad_crc.png": png(8, 8, ihdr_crc=0x12345678),
        "huge_100000x100000.png": png(100000, 100000),
        "wide_2147483647x1.png": png(0x7fffffff, 1),
        "zero_width.png": png(0, 8),
        "bad_bit_depth.png": png(8, 8, depth=3),
        "bad_colour_type.png": png(8, 8, colour=5),
        "palette_without_plte.png": png(8, 8, colour=3),
        "idat_not_zlib.png": png(8, 8, idat=b"garbage garbage garbage"),
        "idat_too_short.png": png(8, 8, rows=b"\0" * 10),
        "bad_filter_type.png": png(8, 8, rows=b"".join(b"\x09" + bytes(24) for _ in range(8))),
        "no_idat.png": b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) + png_chunk(b"IEND", b""),
        "text_named.png": b"just some text, not an image\n",
        "jpeg_named.png": jpg[:len(jpg) // 4],
        "truncated.jpg": jpg[:len(jpg) // 4],
        "soi_only.jpg": b"\xff\xd8\xff",
        "huge_65000x65000.jpg": jpeg_with_size(65000, 65000),
        "zero_size.jpg": jpeg_with_size(0, 0),
        "header_no_scan.jpg": jpeg_with_size(16, 16),
        "garbage_after_soi.jpg": b"\xff\xd8\xff" + bytes((i * 37) % 256 for i in range(500)),
    }
    for name, data in cases.items():
        out("image", name, data)


def main():
    converter = os.path.join(ROOT, ".build", "debug", "lseg-convert")
    if not os.path.exists(converter):
        sys.exit("build first: swift build (the base pack is written by lseg-convert)")
    for folder in ["base", "onnx", "pack", "npy", "image"]:
        shutil.rmtree(os.path.join(HERE, folder), ignore_errors=True)
        os.makedirs(os.path.join(HERE, folder))
    model = base_model()
    onnx.checker.check_model(model)
    out("base", "model.onnx", model.SerializeToString())
    np.save(os.path.join(HERE, "base", "x.npy"), np.linspace(-2, 2, 64, dtype=np.float32).reshape(1, 64))
    subprocess.run([converter, os.path.join(HERE, "base", "model.onnx"), "-o", os.path.join(HERE, "base", "model.pack"),
                    "--quiet"], check=True)
    raw = open(os.path.join(HERE, "base", "model.pack"), "rb").read()
    onnx_corpus(model)
    pack_corpus(raw)
    npy_corpus()
    image_corpus()
    counts = {f: len(os.listdir(os.path.join(HERE, f))) for f in ["onnx", "pack", "npy", "image"]}
    print("corpus:", counts)


if __name__ == "__main__":
    main()
