"""The demo variant: the project's MixFormerV2 with NanoTrack v2's tracking-pretrained backbone as stem.

Only the patch embedding differs from ``mixformerv2_ros.model.MixFormerV2``: the 16x16 patch
projection becomes the frozen NanoTrack v2 backbone (stride 16, 48 channels) plus a trainable
1x1 projection to the ViT width. The stem also accepts its own output (48 channels), so
training can feed cached stem features and skip the frozen convolutions; ONNX export traces the
image path, so the exported graphs hold the stem and need nothing else.
"""

from __future__ import annotations

import torch
from torch import nn

from mixformerv2_ros.model.config import ModelConfig
from mixformerv2_ros.model.network import MixFormerV2
from mixformerv2_ros.training.nanotrack_stem import STEM_CHANNELS, STEM_STRIDE, nanotrack_stem

# Why these sizes: 224/112 crops (the official S sizes) give 14x14 search and 7x7 template tokens,
# so a target normalised to ~50 px spans ~3 tokens; 160/80 (2 tokens) tracked unseen clips far
# worse. Width 192 and depth 4 keep both exported graphs small. NanoTrack's backbone was trained
# on 0..255 inputs: mean 0 and std 1/255 make the tracker's normalisation give exactly that.
DEMO_CONFIG = ModelConfig(
    variant="custom", embed_dim=192, depth=4, num_heads=4, mlp_ratio=2.0, patch_size=STEM_STRIDE,
    template_size=112, search_size=224, bins=96, head_hidden_dim=192, search_factor=4.5,
    template_factor=2.0, mean=(0.0, 0.0, 0.0), std=(1 / 255, 1 / 255, 1 / 255),
)


class StemEmbed(nn.Module):
    """Images (3 channels) or cached stem features -> tokens (N, H/16*W/16, dim).

    Cached features are the stem's output (48 channels) by default. With ``cached_start`` set
    (training that fine-tunes the stem's last blocks), they are the value the stem makes before
    step ``cached_start``, and the stem's steps from there on run here, with their gradients.
    """

    def __init__(self, stem: nn.Module, dim: int):
        super().__init__()
        self.stem = stem
        self.proj = nn.Conv2d(STEM_CHANNELS, dim, kernel_size=1)
        self.cached_start = 0

    def forward(self, x):
        if x.shape[1] == 3:
            x = self.stem(x)
        elif self.cached_start:
            x = self.stem(x, start=self.cached_start)
        return self.proj(x).flatten(2).transpose(1, 2)


def build_demo_model(config: ModelConfig = DEMO_CONFIG, pretrained: bool = True) -> MixFormerV2:
    """A MixFormerV2 whose patch embedding is the (frozen) NanoTrack v2 backbone.

    ``pretrained=False`` keeps the backbone's architecture with random weights (for tests).
    """
    if config.patch_size != STEM_STRIDE:
        raise ValueError(f"the NanoTrack stem has stride {STEM_STRIDE}; config.patch_size is {config.patch_size}")
    model = MixFormerV2(config)
    stem = nanotrack_stem()
    if not pretrained:
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for param in stem.parameters():
                fan_in = param[0].numel() if param.dim() > 1 else 1
                param.copy_(torch.randn(param.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                            if param.dim() > 1 else torch.zeros_like(param))
    stem.requires_grad_(False)
    stem.eval()
    model.backbone.patch_embed = StemEmbed(stem, config.embed_dim)
    return model


def unfreeze_stem_tail(model: MixFormerV2, blocks: int) -> list[nn.Parameter]:
    """Make the stem's last ``blocks`` blocks trainable and feed cached features to what precedes them.

    Returns the unfrozen weights. The cache must then hold ``stem.run_until(images, start)``
    for that ``start`` (``patch_embed.cached_start``), not the stem's output.
    """
    embed = model.backbone.patch_embed
    start = embed.stem.last_blocks_start(blocks)
    embed.cached_start = start
    params = embed.stem.tail_parameters(start)
    for param in params:
        param.requires_grad_(True)
    return params


def set_train_mode(model: MixFormerV2) -> None:
    """Train mode for everything but the stem (it has no batch norm or dropout; eval is its only mode)."""
    model.train()
    model.backbone.patch_embed.stem.eval()
