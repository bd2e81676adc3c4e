"""The demo variant: the project's MixFormerV2 with a pretrained EfficientNet-Lite0 stem.

Only the patch embedding differs from ``mixformerv2_ros.model.MixFormerV2``: the 16x16 patch
projection becomes the frozen Lite0 stem (stride 16) plus a trainable 1x1 projection to the
ViT width. The stem also accepts its own output (112 channels), so training can feed cached
stem features and skip the frozen convolutions; ONNX export traces the image path.
"""

from __future__ import annotations

from torch import nn

from mixformerv2_ros.model.config import ModelConfig
from mixformerv2_ros.model.network import MixFormerV2
from mixformerv2_ros.training.stem import (
    STEM_CHANNELS,
    STEM_STRIDE,
    LiteStem,
    pretrained_lite_stem,
)

# Why these sizes: 224/112 crops (the official S sizes) give 14x14 search and 7x7 template tokens,
# so a target normalised to ~50 px spans ~3 tokens; 160/80 (2 tokens) tracked unseen clips far
# worse. One CPU thread still runs a frame in ~8 ms. Width 192 and depth 4 keep both exported
# graphs under 20 MB together. Lite0 was trained on inputs in [-1, 1].
DEMO_CONFIG = ModelConfig(
    variant="custom", embed_dim=192, depth=4, num_heads=4, mlp_ratio=2.0, patch_size=STEM_STRIDE,
    template_size=112, search_size=224, bins=96, head_hidden_dim=192, search_factor=4.5,
    template_factor=2.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
)


class StemEmbed(nn.Module):
    """Images (3 channels) or cached stem features (112 channels) -> tokens (N, H/16*W/16, dim)."""

    def __init__(self, stem: LiteStem, dim: int):
        super().__init__()
        self.stem = stem
        self.proj = nn.Conv2d(STEM_CHANNELS, dim, kernel_size=1)

    def forward(self, x):
        if x.shape[1] != STEM_CHANNELS:
            x = self.stem(x)
        return self.proj(x).flatten(2).transpose(1, 2)


def build_demo_model(config: ModelConfig = DEMO_CONFIG, pretrained: bool = True) -> MixFormerV2:
    """A MixFormerV2 whose patch embedding is the (frozen) Lite0 stem."""
    if config.patch_size != STEM_STRIDE:
        raise ValueError(f"the Lite0 stem has stride {STEM_STRIDE}; config.patch_size is {config.patch_size}")
    model = MixFormerV2(config)
    stem = pretrained_lite_stem() if pretrained else LiteStem()
    stem.requires_grad_(False)
    stem.eval()
    model.backbone.patch_embed = StemEmbed(stem, config.embed_dim)
    return model


def set_train_mode(model: MixFormerV2) -> None:
    """Train everything but the frozen stem, whose batch norms keep their ImageNet statistics."""
    model.train()
    model.backbone.patch_embed.stem.eval()
