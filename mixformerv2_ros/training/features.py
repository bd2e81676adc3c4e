"""Synthesised pairs passed once through the frozen stem and kept as fp16 tensors.

The stem is most of the network's arithmetic; with it frozen, each pair's stem features never
change, so training on a cache makes a CPU step several times cheaper than re-running the stem.
The price: augmentations are drawn once per cached pair, so the cache must be large.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch


def _to_input(crops, mean, std) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    return (batch - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@torch.no_grad()
def encode_pairs(synthesizer, stem, config, count: int, batch: int = 64, log=print, teacher=None) -> dict:
    """``count`` pairs -> {template, online_template, search: fp16 stem features; boxes; labels}.

    With a ``teacher`` (see ``nanotrack_teacher``), also ``teacher``: its map per search token (fp16).
    """
    parts = {"template": [], "online_template": [], "search": [], "boxes": [], "labels": []}
    if teacher is not None:
        parts["teacher"] = []
    start = time.monotonic()
    for begin in range(0, count, batch):
        pairs = [synthesizer.sample() for _ in range(min(batch, count - begin))]
        images = {key: _to_input([getattr(p, key) for p in pairs], config.mean, config.std)
                  for key in ("template", "online_template", "search")}
        for key, value in images.items():
            parts[key].append(stem(value).half())
        if teacher is not None:
            parts["teacher"].append(teacher(images["template"], images["search"]).half())
        parts["boxes"].append(torch.from_numpy(np.stack([p.box_cxcywh for p in pairs])))
        parts["labels"].append(torch.tensor([p.label for p in pairs], dtype=torch.float32))
        if log and (begin // batch) % 20 == 0:
            log(f"encoded {begin + len(pairs)}/{count} pairs ({time.monotonic() - start:.0f} s)")
    return {key: torch.cat(values) for key, values in parts.items()}


def cached_pairs(path: Path, make) -> dict:
    """Load the feature cache at ``path``, or build it with ``make()`` and save it there."""
    path = Path(path)
    if path.exists():
        return torch.load(path, weights_only=True)
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return data
