"""MixFormerV2 in plain PyTorch, with the template key/value cache.

One ViT runs over [template, online template, search, 4 prediction tokens]. Attention is
asymmetric: template tokens attend only to template tokens; search and prediction tokens attend
to everything. Hence the template half of every layer depends on the templates alone, and its
keys/values can be computed once per template change (``encode_templates``) and reused for every
frame (``forward_cached``), which then processes only the search and prediction tokens.

Each prediction token goes through one shared MLP that gives a distribution over ``bins``
positions for one box side (token order l, r, t, b); the side is the distribution's expectation.
A second MLP on the tokens, averaged, gives the confidence logit.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from mixformerv2_ros.model.config import ModelConfig

# Order of the prediction tokens in the network, and of the sides in our outputs.
TOKEN_SIDES = ("l", "r", "t", "b")
OUTPUT_SIDES = ("l", "t", "r", "b")
_TOKEN_FOR_OUTPUT = [TOKEN_SIDES.index(s) for s in OUTPUT_SIDES]


def sincos_position_embedding(dim: int, grid: int) -> torch.Tensor:
    """Fixed 2D sine-cosine embedding (grid*grid, dim), as MAE-style ViTs initialise it."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    coords = torch.arange(grid, dtype=torch.float64)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")

    def embed(pos):
        angles = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([embed(xs), embed(ys)], dim=1).float()


class MixedAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def _split_heads(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        return q, k, v

    def _attend(self, q, k, v):
        weights = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        out = weights @ v
        b, h, n, d = out.shape
        return self.proj(out.transpose(1, 2).reshape(b, n, h * d))

    def forward(self, x: torch.Tensor, num_template_tokens: int) -> torch.Tensor:
        q, k, v = self._split_heads(x)
        t = num_template_tokens
        out_t = self._attend(q[:, :, :t], k[:, :, :t], v[:, :, :t])
        out_s = self._attend(q[:, :, t:], k, v)
        return torch.cat([out_t, out_s], dim=1)

    def forward_templates(self, x_t: torch.Tensor):
        """Template tokens only; returns their output and their (keys, values) for the cache."""
        q, k, v = self._split_heads(x_t)
        return self._attend(q, k, v), k, v

    def forward_search(self, x_s: torch.Tensor, k_t: torch.Tensor, v_t: torch.Tensor):
        """Search + prediction tokens against cached template keys/values and their own.

        A cache of batch 1 serves a batch of search crops (windows of one frame, all looking
        for the same target): it is broadcast, not copied per crop.
        """
        q, k, v = self._split_heads(x_s)
        batch = q.shape[0]
        k_t, v_t = k_t.expand(batch, -1, -1, -1), v_t.expand(batch, -1, -1, -1)
        return self._attend(q, torch.cat([k_t, k], dim=2), torch.cat([v_t, v], dim=2))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MixedAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, num_template_tokens: int):
        x = x + self.attn(self.norm1(x), num_template_tokens)
        return x + self.mlp(self.norm2(x))

    def forward_templates(self, x_t):
        out, k, v = self.attn.forward_templates(self.norm1(x_t))
        x_t = x_t + out
        return x_t + self.mlp(self.norm2(x_t)), k, v

    def forward_search(self, x_s, k_t, v_t):
        x_s = x_s + self.attn.forward_search(self.norm1(x_s), k_t, v_t)
        return x_s + self.mlp(self.norm2(x_s))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Backbone(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dim = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg.patch_size, dim)
        self.blocks = nn.ModuleList(Block(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        grid_s = cfg.search_size // cfg.patch_size
        grid_t = cfg.template_size // cfg.patch_size
        self.pos_embed_s = nn.Parameter(sincos_position_embedding(dim, grid_s)[None], requires_grad=False)
        self.pos_embed_t = nn.Parameter(sincos_position_embedding(dim, grid_t)[None], requires_grad=False)
        self.reg_tokens = nn.Parameter(torch.randn(1, 4, dim) * 0.02)
        self.pos_embed_reg = nn.Parameter(torch.zeros(1, 4, dim))

    def embed_templates(self, template, online_template):
        return torch.cat([self.patch_embed(template) + self.pos_embed_t,
                          self.patch_embed(online_template) + self.pos_embed_t], dim=1)

    def embed_search(self, search):
        x_s = self.patch_embed(search) + self.pos_embed_s
        reg = (self.reg_tokens + self.pos_embed_reg).expand(x_s.shape[0], -1, -1)
        return torch.cat([x_s, reg], dim=1)


class BoxHead(nn.Module):
    """Shared MLP: prediction token -> logits over `bins` positions of one side."""

    def __init__(self, dim: int, hidden: int, bins: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.ReLU()),
            nn.Sequential(nn.Linear(hidden, bins), nn.LayerNorm(bins)),
        )
        self.register_buffer("bin_positions", torch.arange(bins, dtype=torch.float32) / bins,
                             persistent=False)
        # A buffer, not a Python list: a list index becomes a host tensor copied to the GPU at every
        # call, which CUDA-graph capture refuses (seen with torch 2.11 on an H200).
        self.register_buffer("token_order", torch.tensor(_TOKEN_FOR_OUTPUT), persistent=False)

    def forward(self, tokens):
        probs = self.layers(tokens[:, self.token_order]).softmax(dim=-1)  # (N, 4, bins): l,t,r,b
        ltrb = (probs * self.bin_positions).sum(dim=-1)
        left, top, right, bottom = ltrb.unbind(dim=-1)
        boxes = torch.stack([(left + right) / 2, (top + bottom) / 2, right - left, bottom - top], dim=-1)
        return boxes, probs


class ScoreHead(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, hidden), nn.ReLU()), nn.Linear(hidden, 1))

    def forward(self, tokens):
        return self.layers(tokens).mean(dim=1).reshape(-1)


class MixFormerV2(nn.Module):
    """The network. ``forward`` runs it whole; ``encode_templates`` + ``forward_cached`` split it."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.backbone = Backbone(config)
        self.box_head = BoxHead(config.embed_dim, config.head_hidden_dim, config.bins)
        self.score_head = ScoreHead(config.embed_dim, config.head_hidden_dim)

    def heads(self, prediction_tokens) -> dict[str, torch.Tensor]:
        """The box and score heads on the 4 prediction tokens (the last 4 of ``forward_tokens``)."""
        boxes, probs = self.box_head(prediction_tokens)
        return {"boxes_cxcywh": boxes, "score_logit": self.score_head(prediction_tokens), "probs": probs}

    def forward(self, template, online_template, search) -> dict[str, torch.Tensor]:
        return self.heads(self.forward_tokens(template, online_template, search)[:, -4:])

    def forward_tokens(self, template, online_template, search) -> torch.Tensor:
        """The last layer's tokens, [templates, search, 4 prediction tokens] (training reads the search ones)."""
        x_t = self.backbone.embed_templates(template, online_template)
        x = torch.cat([x_t, self.backbone.embed_search(search)], dim=1)
        for block in self.backbone.blocks:
            x = block(x, x_t.shape[1])
        return x

    def encode_templates(self, template, online_template) -> torch.Tensor:
        """Per-layer template keys/values, packed as (depth, 2, N, heads, template tokens, head dim)."""
        x_t = self.backbone.embed_templates(template, online_template)
        cache = []
        for block in self.backbone.blocks:
            x_t, k, v = block.forward_templates(x_t)
            cache.append(torch.stack([k, v]))
        return torch.stack(cache)

    def forward_cached(self, template_cache, search) -> dict[str, torch.Tensor]:
        x = self.backbone.embed_search(search)
        for block, (k_t, v_t) in zip(self.backbone.blocks, template_cache):
            x = block.forward_search(x, k_t, v_t)
        return self.heads(x[:, -4:])
