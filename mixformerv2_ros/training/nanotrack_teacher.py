"""NanoTrack v2's own foreground map on a training pair: a soft target for distillation.

Why: the ViT on top of the NanoTrack stem learns *which* token is the target from 32 clips only;
NanoTrack's neck and head learnt that from large tracking data sets, and on the held-out drone
clips it keeps small targets among look-alikes (a car in a queue, a cyclist) where this model
jumps. Its classification map says, for every location of the search crop, how much it looks
like the template, including the near misses a box label cannot express. Teaching the search
tokens to predict that map (a training-only head, like ``dense_aux``) is distillation from the
baseline's head; MixFormerV2 itself was made by distillation.

Geometry: the teacher sees our crops resized to its own sizes (template 112 -> 127, search 224
-> 255); the 2.25x search/template ratio of our crops against NanoTrack's 2.0x only makes the
target look a little smaller. Its 16x16 map has cell ``i`` at ``(i - 8) * 16`` px from the
255-crop's centre (the grid OpenCV's ``TrackerNano`` decodes with); it is resampled bilinearly
to the centres of the ViT's search tokens.

The backbone is the model's own frozen stem (the project's torch rebuild, ``nanotrack_stem``);
the head graph runs in ONNX Runtime, one pair at a time (its authors exported it for batch 1).
The attribution is in the model card (NanoTrack v2, Apache-2.0).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mixformerv2_ros.model.config import shared_path

DEFAULT_HEAD = shared_path("models", "nanotrack_v2", "nanotrack_head_sim.onnx")
TEACHER_TEMPLATE_SIZE = 127
TEACHER_SEARCH_SIZE = 255
_STRIDE = 16


def _sample_grid(teacher_cells: int, grid: int) -> torch.Tensor:
    """Where each ViT search token's centre falls on the teacher's map, in grid_sample units."""
    centres = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid * TEACHER_SEARCH_SIZE
    cells = (centres - TEACHER_SEARCH_SIZE / 2) / _STRIDE + teacher_cells // 2
    coords = cells / (teacher_cells - 1) * 2 - 1
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([gx, gy], -1)[None]


class NanoTrackTeacher:
    """(template, search) stem inputs -> NanoTrack's foreground probability per search token."""

    def __init__(self, stem, grid: int, head_path=DEFAULT_HEAD):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.stem = stem
        self.grid = grid
        self.session = ort.InferenceSession(str(head_path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    @torch.no_grad()
    def __call__(self, templates: torch.Tensor, searches: torch.Tensor) -> torch.Tensor:
        """Inputs as the stem takes them (N, 3, H, W); returns (N, grid, grid) in [0, 1]."""
        z = self.stem(F.interpolate(templates, size=TEACHER_TEMPLATE_SIZE, mode="bilinear", align_corners=False))
        x = self.stem(F.interpolate(searches, size=TEACHER_SEARCH_SIZE, mode="bilinear", align_corners=False))
        maps = []
        for zi, xi in zip(z.cpu().numpy().astype(np.float32), x.cpu().numpy().astype(np.float32)):
            logits = self.session.run(None, {self.inputs[0]: zi[None], self.inputs[1]: xi[None]})[0]
            maps.append(torch.from_numpy(logits).softmax(1)[:, 1:2])
        fg = torch.cat(maps)
        grid = _sample_grid(fg.shape[-1], self.grid).expand(len(fg), -1, -1, -1)
        return F.grid_sample(fg, grid, mode="bilinear", padding_mode="border", align_corners=True)[:, 0]


class DistillHead(torch.nn.Module):
    """Search tokens (N, G*G, dim) -> logits (N, G, G) of the teacher's map (training only, never exported)."""

    def __init__(self, dim: int, grid: int):
        super().__init__()
        self.grid = grid
        self.layers = torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, dim), torch.nn.GELU(),
                                          torch.nn.Linear(dim, 1))

    def forward(self, search_tokens: torch.Tensor) -> torch.Tensor:
        return self.layers(search_tokens).reshape(-1, self.grid, self.grid)


def distill_loss(logits: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy against the teacher's soft map, averaged over tokens."""
    return F.binary_cross_entropy_with_logits(logits, teacher_map.float())
