"""A tracking-pretrained convolutional patch embedding: NanoTrack v2's backbone, rebuilt in PyTorch.

Why: the ImageNet-pretrained Lite0 stem gave features that say *what* a thing is; a tracker
needs features that tell *this* object from its neighbours under scale and viewpoint change.
NanoTrack v2's backbone (a MobileNetV3-style net of 188 K parameters, Apache-2.0, trained by
its authors on large tracking data sets) was trained for exactly that, and its 48-channel map
has stride 16, the ViT's patch size, so it replaces the patch projection token for token.

The weights are read from the ONNX file ``nanotrack_backbone_sim.onnx`` (see
``../shared/models/nanotrack_v2/README.md``): the graph is a plain chain of Conv, ReLU,
HardSwish, squeeze-excitation (GlobalAveragePool, Gemm, HardSigmoid, Mul) and residual Adds, so
it is rebuilt here node by node from its initializers. Nothing is executed from the file but
that table of operators, and only the operators listed in ``_SUPPORTED`` are accepted.
(``onnx2torch`` would do this too, but it imports torchvision, which the pinned torch has no
build of here.)

Input convention: NanoTrack was trained on BGR crops with values 0..255. The tracker feeds RGB
crops normalised with the model config's mean and std, so the demo config uses mean 0 and std
1/255 (values 0..255) and this module swaps the first convolution's input channels (RGB in).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mixformerv2_ros.model.config import shared_path

STEM_CHANNELS = 48
STEM_STRIDE = 16
#: Where the project's checkout finds the NanoTrack v2 graphs (the shared folder beside it).
DEFAULT_BACKBONE = shared_path("models", "nanotrack_v2", "nanotrack_backbone_sim.onnx")
_SUPPORTED = {"Conv", "Relu", "HardSwish", "HardSigmoid", "GlobalAveragePool", "Reshape", "Gemm", "Mul", "Add"}


class OnnxChainStem(nn.Module):
    """Runs a small ONNX convolutional graph as torch operations, with its weights as parameters.

    ``steps`` holds (op, input names, output name, attributes, parameter names) in graph order;
    ``forward`` evaluates them with a dictionary of named values, which traces and exports to
    ONNX as ordinary torch operators.
    """

    def __init__(self, steps, weights: dict, input_name: str, output_name: str):
        super().__init__()
        self.steps = steps
        self.input_name, self.output_name = input_name, output_name
        self.params = nn.ParameterDict({_key(name): nn.Parameter(value, requires_grad=False)
                                        for name, value in weights.items()})

    def _param(self, name):
        return self.params[_key(name)]

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """The chain's output; with ``start``, ``x`` is the value ``tail_input(start)`` names and
        only the steps from ``start`` on run (training on features cached at that point)."""
        values = self._run({self.tail_input(start) if start else self.input_name: x}, self.steps[start:])
        return values[self.output_name]

    def run_until(self, x: torch.Tensor, stop: int) -> torch.Tensor:
        """The value the first ``stop`` steps make, which ``forward(value, start=stop)`` continues."""
        return self._run({self.input_name: x}, self.steps[:stop])[self.tail_input(stop)]

    def _run(self, values: dict, steps) -> dict:
        for op, inputs, output, attrs, params in steps:
            args = [self._param(i) if i in params else values[i] for i in inputs]
            values[output] = _apply(op, args, attrs)
        return values

    def last_blocks_start(self, blocks: int) -> int:
        """Index of the first step of the graph's last ``blocks`` blocks (``/features/features.N/``
        name prefixes, NanoTrack's MobileNetV3 stages), where a split for fine-tuning the tail goes."""
        numbers = [_block_number(output) for _, _, output, _, _ in self.steps]
        named = sorted({n for n in numbers if n is not None})
        if not 1 <= blocks < len(named):
            raise ValueError(f"blocks must be 1..{len(named) - 1}, got {blocks}")
        first = named[-blocks]
        start = next(i for i, n in enumerate(numbers) if n is not None and n >= first)
        self.tail_input(start)  # checks the split is clean
        return start

    def tail_input(self, start: int) -> str:
        """The one value made before step ``start`` that the steps from ``start`` on read."""
        made_before = {self.input_name} | {output for _, _, output, _, _ in self.steps[:start]}
        read = {name for _, inputs, _, _, params in self.steps[start:] for name in inputs
                if name not in params and name in made_before}
        if len(read) != 1:
            raise ValueError(f"the chain cannot be split at step {start}: the rest reads {sorted(read)}")
        return read.pop()

    def tail_parameters(self, start: int) -> list[nn.Parameter]:
        """The weights of the steps from ``start`` on."""
        return [self._param(name) for _, _, _, _, params in self.steps[start:] for name in params]


def _block_number(output_name: str):
    parts = output_name.split("/")
    if len(parts) > 2 and parts[1] == "features" and parts[2].startswith("features."):
        return int(parts[2].split(".")[1])
    return None


def _key(onnx_name: str) -> str:
    return onnx_name.replace(".", "_").replace("/", "_").replace(":", "_")


def _apply(op, args, attrs):
    if op == "Conv":
        pads = attrs.get("pads", [0, 0, 0, 0])
        if pads[:2] != pads[2:]:
            raise ValueError(f"asymmetric Conv padding {pads} is not supported")
        return F.conv2d(args[0], args[1], args[2] if len(args) > 2 else None, stride=attrs.get("strides", 1),
                        padding=pads[:2], dilation=attrs.get("dilations", 1), groups=attrs.get("group", 1))
    if op == "Relu":
        return F.relu(args[0])
    if op == "HardSwish":
        return F.hardswish(args[0])
    if op == "HardSigmoid":  # y = clip(alpha * x + beta, 0, 1)
        return (attrs.get("alpha", 0.2) * args[0] + attrs.get("beta", 0.5)).clamp(0.0, 1.0)
    if op == "GlobalAveragePool":
        return args[0].mean(dim=(2, 3), keepdim=True)
    if op == "Reshape":
        # The squeeze-excitation reshapes were exported for batch 1: (1, C) and (1, C, 1, 1).
        # Keep the batch free so training and batched re-acquisition can use it.
        return args[0].flatten(1) if attrs["rank"] == 2 else args[0].reshape(args[0].shape[0], -1, 1, 1)
    if op == "Gemm":
        weight = args[1].t() if attrs.get("transB", 0) else args[1]
        out = attrs.get("alpha", 1.0) * (args[0] @ weight)
        return out + attrs.get("beta", 1.0) * args[2] if len(args) > 2 else out
    if op == "Mul":
        return args[0] * args[1]
    if op == "Add":
        return args[0] + args[1]
    raise ValueError(f"unsupported ONNX operator {op}")


def load_onnx_chain(path) -> OnnxChainStem:
    """Rebuild the convolutional chain of an ONNX file as an ``OnnxChainStem`` (weights frozen)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    steps, weights = [], {}
    for node in graph.node:
        if node.op_type not in _SUPPORTED:
            raise ValueError(f"{path}: operator {node.op_type} is not supported by the stem rebuild")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in attrs.items()}
        if node.op_type == "Reshape":  # its second input is a shape constant, not a weight
            rank = len(initializers[node.input[1]])
            steps.append(("Reshape", [node.input[0]], node.output[0], {"rank": rank}, ()))
            continue
        params = tuple(name for name in node.input if name in initializers)
        weights.update({name: initializers[name].float() for name in params})
        steps.append((node.op_type, list(node.input), node.output[0], attrs, params))
    return OnnxChainStem(steps, weights, graph.input[0].name, graph.output[0].name)



def nanotrack_stem(path=DEFAULT_BACKBONE) -> OnnxChainStem:
    """NanoTrack v2's backbone taking RGB crops with values 0..255: (N,3,H,W) -> (N,48,H/16,W/16).

    The first convolution's input channels are reversed, so RGB in equals BGR into the original.
    """
    path = Path(path)
    if not path.is_file():
        raise RuntimeError(f"NanoTrack v2 backbone not found at {path}: pass its path "
                           "(../shared/models/nanotrack_v2/nanotrack_backbone_sim.onnx)")
    stem = load_onnx_chain(path)
    op, _, _, _, params = stem.steps[0]
    if op != "Conv" or stem._param(params[0]).shape[1] != 3:
        raise ValueError(f"{path}: the first operator is not a 3-channel convolution")
    with torch.no_grad():
        weight = stem._param(params[0])
        weight.copy_(weight.flip(1))
    return stem.eval()
