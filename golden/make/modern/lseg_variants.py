"""LSeg code paths that ../lseg_model.py leaves out, as modules wrapping its LSeg.

From isl-org/lang-seg (modules/models/lseg_net.py), rewritten here:
  * the spatial-regularization heads after the logits: arch_option 1 (bottleneck_block: the max
    over labels added back after the conv) and 2 (depthwise_block), each one shared Conv2d(1, 1, 3)
    applied to every label map by reshaping [B, N, H, W] to [B*N, 1, H, W], block_depth times, the
    activation (ReLU, LeakyReLU or Tanh) after every block but the last;
  * the original fp16 feature product: logit_scale * image_features.half() @ text_features.t(),
    then .float(). On CUDA LSeg's CLIP text features are already float16; on CPU torch needs both
    operands in float16, so the text features are cast too (the graph is the same: Cast to
    float16, a float16 Mul and MatMul, Cast back).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lseg_model import LSeg  # noqa: E402

ACTIVATIONS = {"relu": nn.ReLU, "lrelu": nn.LeakyReLU, "tanh": nn.Tanh}


class DepthwiseConv(nn.Module):
    """lang-seg depthwise_conv: one 3x3 single-channel conv shared by every label map."""

    def __init__(self):
        super().__init__()
        self.depthwise = nn.Conv2d(1, 1, kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        c, h, w = x.shape[1:]
        x = x.reshape(-1, 1, h, w)
        x = self.depthwise(x)
        return x.view(-1, c, h, w)


class HeadBlock(nn.Module):
    """arch_option 1 (bottleneck = True) or 2 (depthwise_block)."""

    def __init__(self, bottleneck: bool, activation: str):
        super().__init__()
        self.bottleneck = bottleneck
        self.depthwise = DepthwiseConv()
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x, act=True):
        if self.bottleneck:
            peak = x.max(dim=1, keepdim=True)[0]
            x = self.depthwise(x) + peak
        else:
            x = self.depthwise(x)
        return self.activation(x) if act else x


class LSegImageVariant(nn.Module):
    """LSeg's image side from text features [N, 512] to logits, with lang-seg's options."""

    def __init__(self, lseg: LSeg, arch_option=0, block_depth=2, activation="relu", half=False):
        super().__init__()
        self.image = lseg.image
        self.register_buffer("logit_scale", lseg.logit_scale.clone())
        self.arch_option = arch_option
        self.block_depth = block_depth
        self.half = half
        if arch_option in (1, 2):
            self.head_block = HeadBlock(arch_option == 1, activation)

    def forward(self, image, text_features):
        t = text_features / text_features.norm(dim=-1, keepdim=True)
        f = self.image(image)
        b, h, w, c = f.shape
        f = f.reshape(-1, c)
        if self.half:
            logits = (self.logit_scale * f.half() @ t.half().t()).float()
        else:
            logits = self.logit_scale * f @ t.t()
        out = logits.view(b, h, w, -1).permute(0, 3, 1, 2)
        if self.arch_option in (1, 2):
            for _ in range(self.block_depth - 1):
                out = self.head_block(out)
            out = self.head_block(out, False)
        return F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True)
