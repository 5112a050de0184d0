"""PyTorch definition of LSeg (CLIP text tower + DPT/ViT image tower), written for lseg-kit's fixtures.

Structure and numerics follow the published LSeg (isl-org/lang-seg), which builds on DPT and
OpenAI CLIP, so that the ONNX graphs exported from here look like real LSeg exports:
  * text: CLIP text transformer, nn.MultiheadAttention, -inf causal mask, QuickGELU, EOT pooling
    via argmax over the token ids, text_projection, L2 normalisation;
  * image: ViT with class token and position embedding resized bilinearly to the token grid,
    four hooked blocks, readout "project", reassemble (1x1 conv + ConvTranspose / identity /
    strided conv), scratch 3x3 convs without bias, FeatureFusionBlock_custom with BatchNorm,
    head1 1x1 conv to 512 channels, L2-normalised pixel features, logits = scale * f @ t.T,
    LSeg's output head (bilinear x2, align_corners=True).
The model takes an image already normalised with mean = std = 0.5.
"""
import math
from dataclasses import dataclass, field
from typing import List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EMBED_DIM = 512  # LSeg's head1 outputs 512 channels; CLIP ViT-B/32 text projection is 512 too
VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77


@dataclass
class LSegConfig:
    name: str
    image_size: int
    # text tower
    text_width: int
    text_layers: int
    text_heads: int
    # image tower (ViT)
    patch_size: int
    vit_width: int
    vit_layers: int
    vit_heads: int
    hooks: List[int]
    posemb_grid: int  # grid the position embedding was "trained" at (resized to the real grid)
    reassemble: List[int]  # per stage: >1 ConvTranspose factor, 1 identity, -2 strided conv
    stage_features: List[int]
    features: int  # DPT decoder width


CONFIGS = {
    # Small enough to commit several copies; the position-embedding grid (6x6) differs from the
    # token grid at 128x128 (8x8) so the exported Resize really interpolates.
    "tiny": LSegConfig("tiny", 128, 4, 2, 2, 16, 32, 4, 2, [0, 1, 2, 3], 6,
                       [4, 2, 1, -2], [8, 16, 32, 32], 16),
    # Trained on synthetic scenes (see train.py); text width is what the embedding table costs.
    "trained": LSegConfig("trained", 128, 8, 2, 2, 16, 64, 4, 4, [0, 1, 2, 3], 8,
                          [4, 2, 1, -2], [16, 32, 48, 48], 32),
    # LSeg clip_vitb32_384: timm vit_base_patch32_384, CLIP ViT-B/32 text tower.
    "vitb32": LSegConfig("vitb32", 384, 512, 12, 8, 32, 768, 12, 12, [2, 5, 8, 11], 12,
                         [8, 4, 2, 1], [96, 192, 384, 768], 256),
    # LSeg clip_vitl16_384: timm vit_large_patch16_384, CLIP ViT-B/32 text tower.
    "vitl16": LSegConfig("vitl16", 384, 512, 12, 8, 16, 1024, 24, 16, [5, 11, 17, 23], 24,
                         [4, 2, 1, -2], [256, 512, 1024, 1024], 256),
}


# ----------------------------------------------------------------------------- text tower (CLIP)

class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, attn_mask):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)
        self.attn_mask = attn_mask

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class TextTower(nn.Module):
    def __init__(self, cfg: LSegConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB_SIZE, cfg.text_width)
        self.positional_embedding = nn.Parameter(torch.empty(CONTEXT_LENGTH, cfg.text_width))
        # Causal mask: -inf strictly above the diagonal (added to attention scores).
        mask = torch.empty(CONTEXT_LENGTH, CONTEXT_LENGTH).fill_(float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(cfg.text_width, cfg.text_heads, mask)
                                         for _ in range(cfg.text_layers)])
        self.ln_final = nn.LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(torch.empty(cfg.text_width, EMBED_DIM))
        self._init(cfg)

    def _init(self, cfg):
        # CLIP's initialisation scheme (std values), so random-weight activations are realistic.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = (cfg.text_width ** -0.5) * ((2 * cfg.text_layers) ** -0.5)
        attn_std = cfg.text_width ** -0.5
        fc_std = (2 * cfg.text_width) ** -0.5
        for block in self.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=cfg.text_width ** -0.5)

    def forward(self, text):
        for block in self.resblocks:
            block.attn_mask = self.attn_mask
        x = self.token_embedding(text)
        x = x + self.positional_embedding
        x = x.permute(1, 0, 2)  # NLD -> LND, as CLIP feeds nn.MultiheadAttention
        x = self.resblocks(x)
        x = x.permute(1, 0, 2)
        x = self.ln_final(x)
        # Pool at the end-of-text token: it has the largest id (49407) in every row. The ids are
        # cast to int32 first because ONNX Runtime has no int64 ArgMax kernel (ids < 2^31: exact).
        x = x[torch.arange(x.shape[0]), text.to(torch.int32).argmax(dim=-1)] @ self.text_projection
        return x / x.norm(dim=-1, keepdim=True)


# ----------------------------------------------------------------------------- image tower (ViT)

class ViTAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class ViTBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = ViTAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc1", nn.Linear(dim, dim * 4))
        self.mlp.add_module("act", nn.GELU())  # exact (erf) GELU, as timm's ViT
        self.mlp.add_module("fc2", nn.Linear(dim * 4, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ProjectReadout(nn.Module):
    """DPT readout 'project': concatenate the class token to every patch token, Linear + GELU."""

    def __init__(self, width):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * width, width), nn.GELU())

    def forward(self, x):
        readout = x[:, 0].unsqueeze(1).expand_as(x[:, 1:])
        return self.project(torch.cat((x[:, 1:], readout), -1))


class ViT(nn.Module):
    def __init__(self, cfg: LSegConfig):
        super().__init__()
        self.patch_size = cfg.patch_size
        self.hooks = cfg.hooks
        self.posemb_grid = cfg.posemb_grid
        self.patch_embed = nn.Conv2d(3, cfg.vit_width, cfg.patch_size, cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.vit_width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.posemb_grid ** 2, cfg.vit_width))
        self.blocks = nn.ModuleList([ViTBlock(cfg.vit_width, cfg.vit_heads) for _ in range(cfg.vit_layers)])
        nn.init.normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6 if cfg.name != "tiny" else 0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def resized_pos_embed(self, gs_h, gs_w):
        tok, grid = self.pos_embed[:, :1], self.pos_embed[0, 1:]
        g = self.posemb_grid
        grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gs_h, gs_w), mode="bilinear")  # align_corners=False
        grid = grid.permute(0, 2, 3, 1).reshape(1, gs_h * gs_w, -1)
        return torch.cat([tok, grid], dim=1)

    def forward(self, x):
        """Returns the outputs of the four hooked blocks, [B, 1 + gh*gw, width] each."""
        b, _, h, w = x.shape
        pos = self.resized_pos_embed(h // self.patch_size, w // self.patch_size)
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        x = x + pos
        hooked = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in self.hooks:
                hooked.append(x)
            if len(hooked) == 4:
                break  # later blocks (and the final norm) do not reach LSeg's output
        return hooked


class Reassemble(nn.Module):
    def __init__(self, vit_width, out_features, factor):
        super().__init__()
        self.readout = ProjectReadout(vit_width)
        self.conv = nn.Conv2d(vit_width, out_features, 1)
        if factor > 1:
            self.resample = nn.ConvTranspose2d(out_features, out_features, factor, factor)
        elif factor == 1:
            self.resample = nn.Identity()
        else:
            self.resample = nn.Conv2d(out_features, out_features, 3, stride=2, padding=1)

    def forward(self, tokens, gh, gw):
        x = self.readout(tokens).transpose(1, 2)
        x = x.reshape(x.shape[0], x.shape[1], gh, gw)
        return self.resample(self.conv(x))


class ResidualConvUnit(nn.Module):
    """DPT ResidualConvUnit_custom with BatchNorm (LSegNet sets use_bn=True)."""

    def __init__(self, features):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(features)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(features)
        self.activation = nn.ReLU(False)

    def forward(self, x):
        out = self.bn1(self.conv1(self.activation(x)))
        out = self.bn2(self.conv2(self.activation(out)))
        return out + x


class FeatureFusionBlock(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, x, skip=None):
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class ImageTower(nn.Module):
    """DPT decoder over the ViT; returns L2-normalised per-pixel features [B, h, w, 512]."""

    def __init__(self, cfg: LSegConfig):
        super().__init__()
        self.patch_size = cfg.patch_size
        self.vit = ViT(cfg)
        self.reassemble = nn.ModuleList([Reassemble(cfg.vit_width, f, k)
                                         for f, k in zip(cfg.stage_features, cfg.reassemble)])
        self.layer_rn = nn.ModuleList([nn.Conv2d(f, cfg.features, 3, padding=1, bias=False)
                                       for f in cfg.stage_features])
        self.refinenet = nn.ModuleList([FeatureFusionBlock(cfg.features) for _ in range(4)])
        self.head1 = nn.Conv2d(cfg.features, EMBED_DIM, 1)

    def forward(self, x):
        gh, gw = x.shape[2] // self.patch_size, x.shape[3] // self.patch_size
        hooked = self.vit(x)
        layers = [rn(ra(t, gh, gw)) for t, ra, rn in zip(hooked, self.reassemble, self.layer_rn)]
        path = self.refinenet[3](layers[3])
        path = self.refinenet[2](path, layers[2])
        path = self.refinenet[1](path, layers[1])
        path = self.refinenet[0](path, layers[0])
        f = self.head1(path)
        f = f.permute(0, 2, 3, 1)
        return f / f.norm(dim=-1, keepdim=True)


def segment_logits(image_features, text_features, logit_scale):
    """LSeg's logits: scale * <pixel feature, text feature>, then bilinear x2 (align_corners)."""
    b, h, w, c = image_features.shape
    logits = logit_scale * image_features.reshape(-1, c) @ text_features.t()
    logits = logits.view(b, h, w, -1).permute(0, 3, 1, 2)
    return F.interpolate(logits, scale_factor=2, mode="bilinear", align_corners=True)


class LSeg(nn.Module):
    def __init__(self, cfg: LSegConfig):
        super().__init__()
        self.cfg = cfg
        self.text = TextTower(cfg)
        self.image = ImageTower(cfg)
        # LSeg: nn.Parameter(ones * log(1/0.07)).exp(): a plain constant tensor at inference.
        self.register_buffer("logit_scale", torch.tensor(np.log(1 / 0.07), dtype=torch.float32).exp())

    def forward(self, image, tokens):
        return segment_logits(self.image(image), self.text(tokens), self.logit_scale)


class LSegTextOnly(nn.Module):
    def __init__(self, lseg: LSeg):
        super().__init__()
        self.text = lseg.text

    def forward(self, tokens):
        return self.text(tokens)


class LSegImageOnly(nn.Module):
    """Image tower + head, given text features [N, 512] (normalised again, as LSeg's forward does)."""

    def __init__(self, lseg: LSeg):
        super().__init__()
        self.image = lseg.image
        self.register_buffer("logit_scale", lseg.logit_scale.clone())

    def forward(self, image, text_features):
        t = text_features / text_features.norm(dim=-1, keepdim=True)
        return segment_logits(self.image(image), t, self.logit_scale)


def randomize_batchnorm(model: nn.Module, generator: torch.Generator):
    """Give BatchNorm non-trivial running statistics so folding it into Conv is actually tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


def build_random(name: str, seed: int) -> LSeg:
    torch.manual_seed(seed)
    model = LSeg(CONFIGS[name])
    randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    return model.eval()
