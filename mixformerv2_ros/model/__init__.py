"""The MixFormerV2 network in plain PyTorch: official-checkpoint import, template cache, ONNX export.

``load_checkpoint(path)`` gives a module whose call ``(template, online_template, search)``
returns ``boxes_cxcywh``, ``score_logit`` and ``probs``. Names are imported lazily, so
``mixformerv2_ros.model.config`` (and the ONNX Runtime path that uses it) never imports torch.
"""

from importlib import import_module

_EXPORTS = {
    "load_checkpoint": "checkpoint", "CheckpointError": "checkpoint",
    "UnsafeCheckpointError": "checkpoint", "ModelConfig": "config", "SMALL": "config",
    "BASE": "config", "VARIANTS": "config", "MixFormerV2": "network", "export_onnx": "onnx_export",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
