"""The MixFormerV2 network in plain PyTorch: official-checkpoint import, template cache, ONNX export.

``load_checkpoint(path)`` gives a module whose call ``(template, online_template, search)``
returns ``boxes_cxcywh``, ``score_logit`` and ``probs``. ``ModelConfig`` lives in
``model.config`` and imports no torch, so the ONNX Runtime path can use it without torch.
"""

from mixformerv2_ros.model.checkpoint import CheckpointError, UnsafeCheckpointError, load_checkpoint
from mixformerv2_ros.model.config import BASE, SMALL, VARIANTS, ModelConfig
from mixformerv2_ros.model.network import MixFormerV2

__all__ = ["BASE", "SMALL", "VARIANTS", "CheckpointError", "MixFormerV2", "ModelConfig",
           "UnsafeCheckpointError", "export_onnx", "load_checkpoint"]


def export_onnx(model, out_path):
    """See ``mixformerv2_ros.model.onnx_export.export_onnx`` (imported lazily: it needs onnx)."""
    from mixformerv2_ros.model.onnx_export import export_onnx as _export

    return _export(model, out_path)
