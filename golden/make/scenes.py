"""Synthetic labelled scenes: coloured shapes on noisy textured grey backgrounds.

Each scene has a label list (strings such as "red circle", "background" plus a few labels of
objects that are absent) and a mask whose pixel values index that list. Everything is drawn
with numpy + PIL from a per-scene seed, so a scene is a pure function of (seed, index).
"""
import math

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128
COLOURS = {
    "red": (215, 35, 35),
    "green": (35, 170, 55),
    "blue": (40, 75, 225),
    "yellow": (235, 215, 35),
}
SHAPES = ["circle", "square", "triangle", "star"]
OBJECT_LABELS = [f"{c} {s}" for c in COLOURS for s in SHAPES]
ALL_LABELS = ["background"] + OBJECT_LABELS


def _polygon(shape, cx, cy, r, angle):
    if shape == "square":
        pts = [(angle + math.pi / 4 + k * math.pi / 2, r) for k in range(4)]
    elif shape == "triangle":
        pts = [(angle + k * 2 * math.pi / 3, r) for k in range(3)]
    else:  # five-pointed star
        pts = [(angle + k * math.pi / 5, r if k % 2 == 0 else r * 0.45) for k in range(10)]
    return [(cx + rr * math.cos(a), cy + rr * math.sin(a)) for a, rr in pts]


def _background(rng):
    base = rng.uniform(70, 190)
    coarse = rng.normal(0, 25, size=(6, 6)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, mode="F").resize((SIZE, SIZE), Image.BILINEAR))
    tint = rng.uniform(-12, 12, size=3)
    img = base + field[..., None] + tint[None, None, :]
    if rng.uniform() < 0.5:  # stripes as a second texture
        period = rng.uniform(6, 20)
        theta = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        img = img + 12 * np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * 2 * math.pi / period)[..., None]
    return img


def make_scene(seed: int):
    """Returns (rgb uint8 [128,128,3], mask uint8 [128,128], labels list[str])."""
    rng = np.random.RandomState(seed)
    img = _background(rng)
    n_obj = rng.randint(1, 4)
    objects = [OBJECT_LABELS[i] for i in rng.choice(len(OBJECT_LABELS), n_obj, replace=False)]
    absent = [l for l in OBJECT_LABELS if l not in objects]
    distractors = [absent[i] for i in rng.choice(len(absent), rng.randint(0, 3), replace=False)]
    labels = ["background"] + objects + distractors
    order = rng.permutation(len(labels))
    labels = [labels[i] for i in order]

    mask = Image.new("L", (SIZE, SIZE), labels.index("background"))
    colour_layer = Image.new("RGB", (SIZE, SIZE), (0, 0, 0))
    for name in objects:
        colour, shape = name.split(" ")
        r = rng.uniform(13, 28)
        cx, cy = rng.uniform(r * 0.6, SIZE - r * 0.6, size=2)
        angle = rng.uniform(0, 2 * math.pi)
        rgb = tuple(int(np.clip(v + rng.uniform(-25, 25), 0, 255)) for v in COLOURS[colour])
        idx = labels.index(name)
        for layer, value in ((mask, idx), (colour_layer, rgb)):
            d = ImageDraw.Draw(layer)
            if shape == "circle":
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=value)
            else:
                d.polygon(_polygon(shape, cx, cy, r * (1.15 if shape == "triangle" else 1.0), angle), fill=value)
    m = np.asarray(mask)
    obj = m != labels.index("background")
    img[obj] = np.asarray(colour_layer, dtype=np.float64)[obj]
    img = img + rng.normal(0, 8, size=img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), m.copy(), labels


def to_model_input(rgb_uint8):
    """uint8 HWC -> float32 [1,3,H,W] normalised with mean = std = 0.5 (LSeg's preprocessing)."""
    x = rgb_uint8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
