"""Weights of an exported demo model (``demo.onnx`` + ``demo.templates.onnx``) back into the
training model, so that training can go on from what ships.

Why: the training checkpoints (``W6/checkpoint.pt`` in the model card's recipe) are research
files outside the repository; the exported graphs are the one copy of the shipped weights that
every clone has. ``torch.onnx.export`` keeps most parameter names (``model.<state-dict key>``)
but stores each ``nn.Linear`` weight transposed under a generated name (``onnx::MatMul_1131``)
and folds the constant sum ``reg_tokens + pos_embed_reg`` into one tensor. So:

- a named initializer goes to its state-dict key;
- a MatMul's generated weight goes to the linear layer whose named bias the MatMul's result is
  added to (every linear layer of the network has a bias), transposed;
- the folded prediction-token sum becomes ``reg_tokens``, with ``pos_embed_reg`` zero: the
  network only ever uses their sum, so its outputs are unchanged;
- the stem is NanoTrack v2's, which the training model builds itself (its weights stay the
  model's own: the exported copy is checked against them, and a difference, from a leg that
  fine-tuned the stem, is refused rather than dropped silently);
- the position embeddings are fixed tables of the model's own grid (as ``--init-from`` keeps).

The training-only heads (dense auxiliary, distillation) are not in the graphs; they start afresh.
The exporter stores equal constant tensors once, so a graph of an untrained network (every
LayerNorm weight 1) lacks some names: it is refused with the first missing one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mixformerv2_ros.model.config import templates_path_for

_PREFIX = "model."
_FIXED = ("pos_embed_s", "pos_embed_t", "pos_embed_reg")


def _graph(path: Path):
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    return proto.graph, {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}


def _linear_weights(graph, initializers: dict) -> dict[str, np.ndarray]:
    """``<layer>.weight`` for every MatMul whose weight is a generated initializer, found through
    the named bias added to its result."""
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {}
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        generated = [name for name in node.input if name in initializers and not name.startswith(_PREFIX)]
        if not generated:
            continue
        biases = [name for add in consumers.get(node.output[0], []) if add.op_type == "Add"
                  for name in add.input if name.startswith(_PREFIX) and name.endswith(".bias")]
        if len(biases) != 1:
            continue  # not one of the network's linear layers (the stem's squeeze-excitation)
        weights[biases[0][len(_PREFIX):-len(".bias")] + ".weight"] = initializers[generated[0]].T
    return weights


def weights_from_onnx(step_path, model) -> dict[str, torch.Tensor]:
    """A state dict for ``model`` (``build_demo_model()``) with the weights of the exported graphs
    ``step_path`` and its template graph. Raises ValueError naming what does not fit."""
    step_path = Path(step_path)
    template_path = templates_path_for(step_path)
    if not template_path.is_file():
        raise ValueError(f"{step_path}: its template graph {template_path.name} is missing beside it")
    found: dict[str, np.ndarray] = {}
    prediction_tokens = []
    for path in (step_path, template_path):
        graph, initializers = _graph(path)
        found.update({name[len(_PREFIX):]: value for name, value in initializers.items() if name.startswith(_PREFIX)})
        found.update(_linear_weights(graph, initializers))
        prediction_tokens += [value for name, value in initializers.items()
                              if not name.startswith(_PREFIX) and value.shape == tuple(model.backbone.reg_tokens.shape)]
    own = model.state_dict()
    if len(prediction_tokens) != 1:
        raise ValueError(f"{step_path}: expected one folded prediction-token tensor of shape "
                         f"{tuple(model.backbone.reg_tokens.shape)}, found {len(prediction_tokens)}")
    found["backbone.reg_tokens"] = prediction_tokens[0]
    state = {}
    for key, value in own.items():
        if key.split(".")[-1] in _FIXED:
            state[key] = torch.zeros_like(value) if key.endswith("pos_embed_reg") else value
            continue
        if key not in found:
            if ".patch_embed.stem." in key:
                state[key] = value  # the stem's own NanoTrack weights (their exported copy is checked below)
                continue
            raise ValueError(f"{step_path}: no weight for {key}: not a graph of this model")
        array = found[key]
        if tuple(array.shape) != tuple(value.shape):
            raise ValueError(f"{step_path}: {key} has shape {tuple(array.shape)}, the model {tuple(value.shape)}")
        if ".patch_embed.stem." in key and not np.array_equal(array, value.detach().cpu().numpy()):
            raise ValueError(f"{step_path}: its stem weight {key} differs from NanoTrack v2's (a fine-tuned "
                             "stem); importing it is not supported")
        state[key] = torch.tensor(array, dtype=value.dtype)
    return state
