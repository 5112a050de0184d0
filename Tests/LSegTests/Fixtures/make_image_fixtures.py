"""Image, resize and preprocessing fixtures for the LSeg tests.

Usage (from this folder): python make_image_fixtures.py
Needs numpy and Pillow < 13: Pillow up to 12 always runs the horizontal resampling pass first,
which is what RGBImage.resized reproduces; Pillow 13 runs the vertical pass first for some
shapes (widening while shortening, ...), which moves a few pixels by 1. PNGs of every colour type and bit depth are written by a small PNG
encoder here (Pillow cannot write most of them); the expected RGB bytes follow the documented
decoding rule (16-bit -> high byte, low-depth grey scaled to 0..255, palette expanded, alpha
dropped). JPEGs are written by Pillow and the expected bytes are Pillow's own decode.
Each fixture X gets X.rgb: the expected width*height*3 bytes. manifest.json lists them.
"""
import io
import json
import struct
import zlib

import numpy as np
from PIL import Image

W, H = 7, 5
rng = np.random.default_rng(1234)
manifest = []


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(rows_bytes, width, height, depth, colour, extra_chunks=(), interlace=0):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows_bytes)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(chunk(k, d) for k, d in extra_chunks)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def pack_bits(values, depth):
    out, acc, nbits = bytearray(), 0, 0
    for v in values:
        acc = (acc << depth) | int(v)
        nbits += depth
        if nbits == 8:
            out.append(acc); acc = 0; nbits = 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def add(name, data, expected_rgb, width=W, height=H):
    with open(name, "wb") as f:
        f.write(data)
    with open(name + ".rgb", "wb") as f:
        f.write(np.asarray(expected_rgb, dtype=np.uint8).reshape(height, width, 3).tobytes())
    manifest.append({"file": name, "width": width, "height": height})


# Grey at 1, 2, 4, 8, 16 bits.
for depth in (1, 2, 4, 8, 16):
    g = rng.integers(0, 1 << depth, size=(H, W))
    if depth == 16:
        rows = [b"".join(struct.pack(">H", int(v)) for v in row) for row in g]
        g8 = g >> 8
    elif depth == 8:
        rows = [bytes(int(v) for v in row) for row in g]
        g8 = g
    else:
        rows = [pack_bits(row, depth) for row in g]
        g8 = g * (255 // ((1 << depth) - 1))
    add(f"grey{depth}.png", png_bytes(rows, W, H, depth, 0), np.repeat(g8[..., None], 3, axis=2))

# Grey + alpha, RGB, RGBA at 8 and 16 bits.
for colour, channels, name in ((4, 2, "greyalpha"), (2, 3, "rgb"), (6, 4, "rgba")):
    for depth in (8, 16):
        a = rng.integers(0, 1 << depth, size=(H, W, channels))
        fmt = ">H" if depth == 16 else ">B"
        rows = [b"".join(struct.pack(fmt, int(v)) for v in row.reshape(-1)) for row in a]
        a8 = a >> 8 if depth == 16 else a
        rgb = np.repeat(a8[..., :1], 3, axis=2) if channels <= 2 else a8[..., :3]
        add(f"{name}{depth}.png", png_bytes(rows, W, H, depth, colour), rgb)

# Palette at 8 and 4 bits, the 4-bit one with transparency (tRNS, which is dropped).
palette = rng.integers(0, 256, size=(16, 3))
for depth in (8, 4):
    idx = rng.integers(0, 16, size=(H, W))
    rows = [bytes(int(v) for v in row) if depth == 8 else pack_bits(row, 4) for row in idx]
    chunks = [(b"PLTE", bytes(int(v) for v in palette.reshape(-1)))]
    if depth == 4:
        chunks.append((b"tRNS", bytes(range(0, 160, 10))))
    add(f"palette{depth}.png", png_bytes(rows, W, H, depth, 3, chunks), palette[idx])

# Interlaced (Adam7) RGB, 8 bits: the seven passes each hold a sub-image of filtered rows.
rgb = rng.integers(0, 256, size=(H * 3, W * 3, 3), dtype=np.uint8)
raw = b""
for (x0, y0, dx, dy) in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
    sub = rgb[y0::dy, x0::dx]
    if sub.size:
        raw += b"".join(b"\x00" + row.tobytes() for row in sub)
ihdr = struct.pack(">IIBBBBB", W * 3, H * 3, 8, 2, 0, 0, 1)
data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
add("rgb8-interlaced.png", data, rgb, W * 3, H * 3)

# JPEGs: smooth content so the codec has something natural to do.
yy, xx = np.mgrid[0:24, 0:32]
smooth = np.stack([xx * 8, yy * 10, (xx + yy) * 4], axis=2).clip(0, 255).astype(np.uint8)
for name, img, kwargs in (
    ("rgb.jpg", Image.fromarray(smooth), {"quality": 90}),
    ("rgb-420-progressive.jpg", Image.fromarray(smooth), {"quality": 75, "progressive": True, "subsampling": 2}),
    ("grey.jpg", Image.fromarray(smooth[..., 0]), {"quality": 90}),
):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kwargs)
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    add(name, buf.getvalue(), decoded, 32, 24)
buf = io.BytesIO()
Image.fromarray(smooth).convert("CMYK").save(buf, "JPEG")
with open("cmyk.jpg", "wb") as f:
    f.write(buf.getvalue())

# Resize reference: Pillow BILINEAR on a random image, shrinking, enlarging, one axis each.
src = rng.integers(0, 256, size=(23, 37, 3), dtype=np.uint8)
Image.fromarray(src).save("resize-source.png")
resizes = []
for (w, h) in ((16, 12), (80, 50), (37, 11), (20, 23), (5, 3), (37, 23), (40, 20), (28, 3)):
    out = np.asarray(Image.fromarray(src).resize((w, h), Image.BILINEAR))
    name = f"resize-{w}x{h}.rgb"
    with open(name, "wb") as f:
        f.write(out.tobytes())
    resizes.append({"file": name, "width": w, "height": h})

# Preprocessing reference: PIL resize, then ToTensor + Normalize in float32, NCHW.
pre = []
for (h, w, mean, std) in ((32, 24, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
                          (20, 40, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])):
    x = np.asarray(Image.fromarray(src).resize((w, h), Image.BILINEAR)).astype(np.float32) / np.float32(255)
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    name = f"preprocess-{h}x{w}.npy"
    np.save(name, x.transpose(2, 0, 1)[None].astype(np.float32))
    pre.append({"file": name, "height": h, "width": w, "mean": mean, "std": std})

with open("images.json", "w") as f:
    json.dump({"decode": manifest, "resize": resizes, "preprocess": pre}, f, indent=1)
    f.write("\n")
