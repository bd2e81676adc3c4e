"""Safe import of official MixFormerV2 checkpoints (``.pth.tar``).

Official checkpoints are torch zip archives whose pickle holds, beside the weights, training
objects such as ``lib.train.admin.settings.Settings``. ``torch.load(weights_only=True)`` refuses
them and a plain unpickle imports (and runs) the official code. Here the pickle is read by a
restricted unpickler: tensors are rebuilt by our own code from the archive's raw storages, every
other class becomes an inert placeholder that is never imported, and any attempt of the pickle
to *call* something outside the allow-list (the way malicious pickles run code) is refused.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

import torch

from mixformerv2_ros.model.config import VARIANTS, ModelConfig
from mixformerv2_ros.model.network import MixFormerV2


class CheckpointError(ValueError):
    """The file is not a usable MixFormerV2 checkpoint; the message says why."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle tries to run code."""


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class _Inert:
    """Stands for a pickled class we do not import; keeps whatever state the pickle gives it."""

    def __setstate__(self, state):
        self.state = state


def _inert_class(module: str, name: str):
    def refuse(*args, **kwargs):
        raise UnsafeCheckpointError(
            f"the checkpoint's pickle calls {module}.{name}{args!r}: refusing to load a file that "
            "would run code (only weights and plain data are accepted)")

    # Instantiation through NEWOBJ (how plain objects are pickled) uses __new__ and is harmless;
    # calling the "class" (REDUCE, how pickles run code) is refused.
    meta = type("InertMeta", (type,), {"__call__": refuse})
    return meta(name, (_Inert,), {"__module__": f"unimported:{module}"})


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return torch.as_strided(storage, tuple(size), tuple(stride), offset)


def _rebuild_parameter(tensor, requires_grad, hooks, *rest):
    return tensor


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        return _inert_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent record {pid!r} in checkpoint")
        storage_type, key, _location, numel = pid[1:]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unsupported storage type {storage_type!r} in checkpoint")
        try:
            raw = self._archive.read(f"{self._prefix}data/{key}")
        except KeyError as exc:
            raise CheckpointError(f"checkpoint is truncated: storage {key} is missing") from exc
        tensor = torch.frombuffer(bytearray(raw), dtype=storage_type.dtype) if raw else \
            torch.empty(0, dtype=storage_type.dtype)
        if tensor.numel() != numel:
            raise CheckpointError(f"checkpoint storage {key} has {tensor.numel()} elements, expected {numel}")
        return tensor


def read_checkpoint(path) -> dict:
    """The checkpoint's top-level dict, tensors rebuilt, other objects inert. Never runs its code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        archive = zipfile.ZipFile(path)
        pkl_names = [n for n in archive.namelist() if n.endswith("data.pkl")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{path}: not a PyTorch checkpoint archive (truncated or corrupt?): {exc}") from exc
    if len(pkl_names) != 1:
        raise CheckpointError(f"{path}: not a PyTorch checkpoint archive (no single data.pkl)")
    prefix = pkl_names[0][: -len("data.pkl")]
    with archive:
        try:
            has_byteorder = prefix + "byteorder" in archive.namelist()
            byteorder = archive.read(prefix + "byteorder").decode() if has_byteorder else "little"
            if byteorder != "little":
                raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
            return _RestrictedUnpickler(archive.read(pkl_names[0]), archive, prefix).load()
        except CheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, TypeError,
                AttributeError, IndexError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: corrupt checkpoint ({type(exc).__name__}: {exc})") from exc


def infer_config(state: dict, variant: str | None = None) -> ModelConfig:
    """Network sizes from the tensors' shapes; crop sizes and factors from the variant."""
    try:
        embed_dim = state["backbone.patch_embed.proj.weight"].shape[0]
        patch = state["backbone.patch_embed.proj.weight"].shape[-1]
        depth = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("backbone.blocks."))
        mlp_hidden = state["backbone.blocks.0.mlp.fc1.weight"].shape[0]
        bins = state["box_head.layers.1.0.weight"].shape[0]
        head_hidden = state["box_head.layers.0.0.weight"].shape[0]
        search_tokens = state["backbone.pos_embed_s"].shape[1]
        template_tokens = state["backbone.pos_embed_t"].shape[1]
    except (KeyError, ValueError, IndexError) as exc:
        raise CheckpointError(f"not a MixFormerV2 state dict (missing or malformed {exc})") from exc
    search_size = round(search_tokens ** 0.5) * patch
    template_size = round(template_tokens ** 0.5) * patch
    matching = [name for name, cfg in VARIANTS.items()
                if (cfg.search_size, cfg.template_size) == (search_size, template_size)]
    if variant is None:
        variant = matching[0] if matching else "custom"
    elif variant not in VARIANTS:
        raise CheckpointError(f"unknown variant {variant!r} (choose from {sorted(VARIANTS)})")
    elif variant not in matching:
        cfg = VARIANTS[variant]
        raise CheckpointError(
            f"checkpoint is not a MixFormerV2-{variant[0].upper()} ({cfg.search_size}/{cfg.template_size} px "
            f"crops): its position embeddings are for {search_size}/{template_size} px")
    base = VARIANTS.get(variant, VARIANTS["base"])
    return base.with_overrides(
        variant=variant, embed_dim=embed_dim, depth=depth, num_heads=base.num_heads,
        mlp_ratio=mlp_hidden / embed_dim, patch_size=patch, template_size=template_size,
        search_size=search_size, bins=bins, head_hidden_dim=head_hidden)


def load_checkpoint(path, variant: str | None = None) -> MixFormerV2:
    """An official (or our own) MixFormerV2 checkpoint as a network in eval mode on the CPU."""
    content = read_checkpoint(path)
    state = content.get("net") if isinstance(content, dict) else None
    if state is None and isinstance(content, dict) and "backbone.patch_embed.proj.weight" in content:
        state = content  # a bare state dict
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no 'net' state dict in checkpoint")
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    config = infer_config(state, variant)
    model = MixFormerV2(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: state dict does not match MixFormerV2 ({config.variant}): "
                              f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                              f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(f"{path}: {key} has shape {tuple(tensor.shape)}, "
                                  f"expected {tuple(expected[key].shape)}")
    model.load_state_dict(state, strict=True)
    return model.eval()
