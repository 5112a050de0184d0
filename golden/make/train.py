"""Train the 'trained' tiny LSeg (both towers) on synthetic scenes; deterministic on CPU.

Usage: train.py OUT.pt [--steps N]
Loss: per-pixel cross-entropy over each scene's own label set (labels outside the set masked out).
Training scenes use seeds 1_000_000 + k (held-out scenes use 1000 + i, see generate.py).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_tokenizer  # noqa: E402
from lseg_model import LSeg, CONFIGS, segment_logits  # noqa: E402
from scenes import ALL_LABELS, make_scene, to_model_input  # noqa: E402

TRAIN_SEED_BASE = 1_000_000
THREADS = 1  # one thread: deterministic and, on a shared 2-core box, faster than two


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()

    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(1234)
    np.random.seed(1234)

    model = LSeg(CONFIGS["trained"])
    model.train()
    tokens = torch.from_numpy(clip_tokenizer.tokenize(ALL_LABELS))
    label_index = {l: i for i, l in enumerate(ALL_LABELS)}

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = 50
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))

    t0 = time.time()
    k = 0
    for step in range(args.steps):
        images, targets, allowed = [], [], []
        for _ in range(args.batch):
            rgb, mask, labels = make_scene(TRAIN_SEED_BASE + k)
            k += 1
            if step % 2 == 1:  # horizontal flips for variety (cheap, deterministic)
                rgb, mask = rgb[:, ::-1], mask[:, ::-1]
            images.append(to_model_input(rgb)[0])
            glob = np.array([label_index[l] for l in labels], dtype=np.int64)
            targets.append(glob[mask])
            a = np.zeros(len(ALL_LABELS), dtype=bool)
            a[glob] = True
            allowed.append(a)
        x = torch.from_numpy(np.stack(images))
        y = torch.from_numpy(np.stack(targets))
        allow = torch.from_numpy(np.stack(allowed))

        logits = segment_logits(model.image(x), model.text(tokens), model.logit_scale)  # [B,L,H,W]
        logits = logits.masked_fill(~allow[:, :, None, None], -1e4)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0 or step == args.steps - 1:
            with torch.no_grad():
                acc = (logits.argmax(1) == y).float().mean().item()
            print(f"step {step} loss {loss.item():.4f} pixacc {acc:.3f} lr {sched.get_last_lr()[0]:.2e} "
                  f"t {time.time() - t0:.0f}s", flush=True)

    model.eval()
    torch.save({"state_dict": model.state_dict(), "steps": args.steps, "batch": args.batch, "lr": args.lr,
                "seconds": time.time() - t0}, args.out)
    print("saved", args.out, f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
