"""The official MixFormerV2 losses that fit a model trained without a teacher.

Box: 5 * L1 + 2 * GIoU on the expectation of the side distributions (positives only).
Score: binary cross-entropy of the score logit against "target in the search crop".
Plus a distribution focal loss (GFL) on each side's bins: the official student learns its
distributions from a teacher; without one, the expectation alone starts from l = r (zero-width
boxes) and its gradient is too weak to leave that state within a CPU budget.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

L1_WEIGHT = 5.0
GIOU_WEIGHT = 2.0
SCORE_WEIGHT = 1.0
DFL_WEIGHT = 1.0


def cxcywh_to_xyxy(boxes):
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def iou_and_giou(pred_xyxy, target_xyxy):
    """Element-wise IoU and generalised IoU of (N,4) corner boxes."""
    area_p = (pred_xyxy[:, 2] - pred_xyxy[:, 0]).clamp(min=0) * (pred_xyxy[:, 3] - pred_xyxy[:, 1]).clamp(min=0)
    area_t = (target_xyxy[:, 2] - target_xyxy[:, 0]) * (target_xyxy[:, 3] - target_xyxy[:, 1])
    lt = torch.maximum(pred_xyxy[:, :2], target_xyxy[:, :2])
    rb = torch.minimum(pred_xyxy[:, 2:], target_xyxy[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter
    iou = inter / union.clamp(min=1e-7)
    enclose = (torch.maximum(pred_xyxy[:, 2:], target_xyxy[:, 2:])
               - torch.minimum(pred_xyxy[:, :2], target_xyxy[:, :2])).clamp(min=0).prod(dim=1)
    return iou, iou - (enclose - union) / enclose.clamp(min=1e-7)


def side_distribution_loss(probs, target_xyxy):
    """Cross-entropy of each side's (l,t,r,b) distribution against its two bins nearest the truth."""
    bins = probs.shape[-1]
    position = (target_xyxy * bins).clamp(0, bins - 1 - 1e-4)
    lower = position.floor().long()
    upper_weight = position - lower
    log_probs = probs.clamp(min=1e-9).log()
    nll_lower = -log_probs.gather(-1, lower[..., None]).squeeze(-1)
    nll_upper = -log_probs.gather(-1, (lower + 1)[..., None]).squeeze(-1)
    return ((1 - upper_weight) * nll_lower + upper_weight * nll_upper).mean()


def tracking_loss(outputs: dict, boxes_cxcywh, labels) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts (floats, for logging); ``iou`` is the mean IoU on positives."""
    positive = labels > 0.5
    score = F.binary_cross_entropy_with_logits(outputs["score_logit"], labels)
    total = SCORE_WEIGHT * score
    parts = {"score": score.item()}
    if positive.any():
        pred = cxcywh_to_xyxy(outputs["boxes_cxcywh"][positive])
        target = cxcywh_to_xyxy(boxes_cxcywh[positive])
        iou, giou = iou_and_giou(pred, target)
        l1 = F.l1_loss(pred, target)
        giou_loss = (1 - giou).mean()
        dfl = side_distribution_loss(outputs["probs"][positive], target)
        total = total + L1_WEIGHT * l1 + GIOU_WEIGHT * giou_loss + DFL_WEIGHT * dfl
        parts.update(l1=l1.item(), giou=giou_loss.item(), dfl=dfl.item(), iou=iou.mean().item())
    parts["loss"] = total.item()
    return total, parts
