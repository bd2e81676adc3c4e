"""A training-only dense head on the search tokens: where is the target, and how big.

Why: the four prediction tokens get four supervised numbers per pair, and in the first CPU run
they found nothing (train IoU 0.0) for ~300 steps. Every one of the 14x14 search tokens can be
told whether it holds the target's centre (a Gaussian heat map, CenterNet's focal loss) and, at
the centre, the box's size and sub-token offset, as OSTrack's centre head is trained. That dense
signal teaches the mixed attention to match template and search early; the prediction tokens
then read a backbone that already localises. The head is dropped at export: the shipped network
is the plain MixFormerV2 (prediction tokens, distribution box head, score head).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

AUX_WEIGHT = 1.0
SIZE_WEIGHT = 5.0


class DenseAuxHead(nn.Module):
    """Search tokens (N, G*G, dim) -> heat logits (N, G, G) and size/offset (N, 4, G, G) in [0, 1]."""

    def __init__(self, dim: int, grid: int):
        super().__init__()
        self.grid = grid
        self.layers = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 5))
        nn.init.constant_(self.layers[-1].bias[:1], -4.6)  # heat starts near 0.01, as CenterNet does

    def forward(self, search_tokens):
        n = search_tokens.shape[0]
        out = self.layers(search_tokens).transpose(1, 2).reshape(n, 5, self.grid, self.grid)
        return out[:, 0], out[:, 1:].sigmoid()


def search_tokens(model, template, online_template, search) -> tuple[dict, torch.Tensor]:
    """The model's outputs and its last-layer search tokens, from one forward pass."""
    tokens = model.forward_tokens(template, online_template, search)
    grid = model.config.search_size // model.config.patch_size
    outputs = model.heads(tokens[:, -4:])
    return outputs, tokens[:, -4 - grid * grid:-4]


def dense_aux_loss(heat_logits, size_offset, boxes_cxcywh, labels) -> tuple[torch.Tensor, dict[str, float]]:
    """Focal loss on the centre heat map (all pairs; negatives have none) + L1 on size/offset at the centre."""
    n, grid, _ = heat_logits.shape
    centres = (torch.arange(grid, dtype=heat_logits.dtype, device=heat_logits.device) + 0.5) / grid
    cx, cy, w, h = boxes_cxcywh.unbind(-1)
    sigma = (torch.sqrt(w * h) / 6).clamp(min=0.5 / grid)[:, None, None]
    gauss = torch.exp(-((centres[None, None, :] - cx[:, None, None]) ** 2
                        + (centres[None, :, None] - cy[:, None, None]) ** 2) / (2 * sigma ** 2))
    positive = labels > 0.5
    col = (cx * grid).long().clamp(0, grid - 1)
    row = (cy * grid).long().clamp(0, grid - 1)
    peak = torch.zeros_like(gauss)
    peak[torch.arange(n), row, col] = 1.0
    peak = peak * positive[:, None, None]
    gauss = torch.maximum(gauss * positive[:, None, None], peak)
    prob = heat_logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    pos_term = -((1 - prob) ** 2) * prob.log() * peak
    neg_term = -((1 - gauss) ** 4) * prob ** 2 * (1 - prob).log() * (1 - peak)
    heat = (pos_term.sum() + neg_term.sum()) / peak.sum().clamp(min=1.0)
    total = heat
    parts = {"aux_heat": heat.item()}
    if positive.any():
        index = torch.nonzero(positive).squeeze(1)
        predicted = size_offset[index, :, row[index], col[index]]  # (P, 4): w, h, dx, dy
        target = torch.stack([w[index], h[index], cx[index] * grid - col[index], cy[index] * grid - row[index]], -1)
        size = F.l1_loss(predicted, target.clamp(0, 1))
        total = total + SIZE_WEIGHT * size
        parts["aux_size"] = size.item()
    return AUX_WEIGHT * total, parts
