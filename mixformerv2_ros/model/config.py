"""Network configuration: sizes of a MixFormerV2 variant, importable without torch.

The tracker's ONNX Runtime path reads the same fields back from ONNX metadata, so a runtime
needs neither torch nor a config file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build the network and to prepare its inputs."""

    variant: str = "small"
    embed_dim: int = 768
    depth: int = 4
    num_heads: int = 12
    mlp_ratio: float = 1.0
    patch_size: int = 16
    template_size: int = 112
    search_size: int = 224
    bins: int = 96
    head_hidden_dim: int = 768
    search_factor: float = 4.5
    template_factor: float = 2.0
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD

    @property
    def template_tokens(self) -> int:
        return (self.template_size // self.patch_size) ** 2

    @property
    def search_tokens(self) -> int:
        return (self.search_size // self.patch_size) ** 2

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    def to_metadata(self) -> dict[str, str]:
        """String key/values for ONNX metadata_props."""
        return {f"mixformerv2.{k}": json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> "ModelConfig":
        values = {}
        for f in fields(cls):
            key = f"mixformerv2.{f.name}"
            if key in metadata:
                value = json.loads(metadata[key])
                values[f.name] = tuple(value) if isinstance(value, list) else value
        missing = {f.name for f in fields(cls)} - set(values)
        if missing:
            raise ValueError(f"ONNX model lacks MixFormerV2 metadata: {sorted(missing)} "
                             "(was it exported with mixformerv2-export?)")
        return cls(**values)

    def with_overrides(self, **kw) -> "ModelConfig":
        return replace(self, **kw)


# The official release's two variants (experiments/mixformer2_vit_online/*.yaml, TEST section).
SMALL = ModelConfig(variant="small", depth=4, mlp_ratio=1.0, template_size=112, search_size=224)
BASE = ModelConfig(variant="base", depth=8, mlp_ratio=4.0, template_size=128, search_size=288)
VARIANTS = {"small": SMALL, "base": BASE}


def templates_path_for(step_path) -> Path:
    """Where the template graph of an exported per-frame graph lives: OUT.onnx -> OUT.templates.onnx."""
    step_path = Path(step_path)
    return step_path.with_name(step_path.stem + ".templates.onnx")


DEMO_MODEL = Path(__file__).resolve().parents[1] / "models" / "demo.onnx"


def demo_model_path() -> str | None:
    """The small demo model shipped inside the package (see models/MODEL_CARD.md), or None.

    It lives in the Python package so that a colcon install and a plain `pip install .` both
    carry it; it is what the node runs when no model_path is given.
    """
    return str(DEMO_MODEL) if DEMO_MODEL.is_file() else None


def shared_path(*parts: str) -> Path:
    """A file of the project's ``shared/`` folder (third-party models, data), which lies beside the
    checkout: the nearest ``<ancestor>/shared/<parts>`` that exists, so the source tree and a
    colcon install inside the checkout (install/<distro>/.../site-packages) both find it. When
    none exists, the path beside the source checkout is returned, for the error message."""
    here = Path(__file__).resolve()
    for ancestor in here.parents:
        candidate = ancestor.joinpath("shared", *parts)
        if candidate.exists():
            return candidate
    return here.parents[3].joinpath("shared", *parts)
