"""Export a MixFormerV2 network as two ONNX graphs joined by the template cache.

``OUT.templates.onnx`` maps (template, online_template) -> template_cache and runs only when
the templates change; ``OUT.onnx`` maps (template_cache, search) -> boxes_cxcywh, score_logit,
probs and runs every frame; its search batch is free, so several windows of one frame (the
whole-frame re-acquisition) run in one call against the same cache. Both carry the model's
``ModelConfig`` (crop sizes, factors, normalisation) as metadata, so a runtime needs neither
torch nor a config file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from mixformerv2_ros.model.config import templates_path_for

OPSET = 17


class _TemplateGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, template, online_template):
        return self.model.encode_templates(template, online_template)


class _StepGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, template_cache, search):
        out = self.model.forward_cached(template_cache, search)
        return out["boxes_cxcywh"], out["score_logit"], out["probs"]


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def export_onnx(model, out_path) -> tuple[Path, Path]:
    """Write the per-frame graph to ``out_path`` and the template graph beside it."""
    step_path = Path(out_path)
    if step_path.suffix != ".onnx":
        raise ValueError(f"output must end in .onnx, got {step_path}")
    step_path.parent.mkdir(parents=True, exist_ok=True)
    template_path = templates_path_for(step_path)
    cfg = model.config
    model = model.float().eval().cpu()
    template = torch.zeros(1, 3, cfg.template_size, cfg.template_size)
    search = torch.zeros(1, 3, cfg.search_size, cfg.search_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cache = model.encode_templates(template, template)
        torch.onnx.export(_TemplateGraph(model), (template, template), str(template_path),
                          input_names=["template", "online_template"], output_names=["template_cache"],
                          opset_version=OPSET, dynamo=False)
        torch.onnx.export(_StepGraph(model), (cache, search), str(step_path),
                          input_names=["template_cache", "search"],
                          output_names=["boxes_cxcywh", "score_logit", "probs"],
                          dynamic_axes={name: {0: "crops"} for name in ("search", "boxes_cxcywh", "score_logit",
                                                                         "probs")},
                          opset_version=OPSET, dynamo=False)
    metadata = cfg.to_metadata()
    _add_metadata(template_path, metadata | {"mixformerv2.graph": '"templates"'})
    _add_metadata(step_path, metadata | {"mixformerv2.graph": '"step"'})
    return step_path, template_path
