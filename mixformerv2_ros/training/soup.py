"""A model soup: the mean of the weights of several training legs that started from the same weights.

Why: legs fine-tuned from one model on other pairs, rates or options each tracked held-out clips
worse than the model they started from (model card, "What worked and what did not"), yet their
errors differ. Weights fine-tuned from a common start stay in one basin of the loss, where their
mean is itself a good network, and on data unlike the training data it is often better than any
one of them (Wortsman et al., "Model soups", ICML 2022, the uniform soup). The mean is taken
parameter by parameter, each ingredient with the same weight; the frozen stem must be the same in
every ingredient (it is NanoTrack's, never trained here), and a leg that did not start from the
soup's other ingredients has no business in it: this module cannot tell, the recipe must.

    python -m mixformerv2_ros.training.soup --out soup/demo.onnx \\
        mixformerv2_ros/models/demo.onnx W11/checkpoint.pt W12/checkpoint.pt W13/checkpoint.pt

An ingredient is an exported graph pair (``X.onnx`` with ``X.templates.onnx`` beside it, read back
by ``training.onnx_import``) or a training checkpoint (``checkpoint.pt``, or a GPU leg's
``weights.pt``); training-only heads in a checkpoint are not part of the soup.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mixformerv2_ros.training.model import DEMO_CONFIG, build_demo_model
from mixformerv2_ros.training.train import read_leg


def uniform_soup(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The parameter-wise mean of ``states``, which must hold the same names and shapes.

    The prediction tokens are stored two ways (a training checkpoint keeps ``reg_tokens`` and
    ``pos_embed_reg`` apart, an exported graph only their sum, which ``onnx_import`` puts in
    ``reg_tokens``); the network only uses the sum, so each ingredient's pair is folded into
    ``reg_tokens`` before the mean."""
    if len(states) < 2:
        raise ValueError(f"a soup needs at least two ingredients, got {len(states)}")
    folded = []
    for state in states:
        state = dict(state)
        if "backbone.pos_embed_reg" in state and "backbone.reg_tokens" in state:
            state["backbone.reg_tokens"] = state["backbone.reg_tokens"] + state["backbone.pos_embed_reg"]
            state["backbone.pos_embed_reg"] = torch.zeros_like(state["backbone.pos_embed_reg"])
        folded.append(state)
    names = set(folded[0])
    for index, state in enumerate(folded[1:], start=1):
        if set(state) != names:
            raise ValueError(f"ingredient {index} holds other parameters than ingredient 0: "
                             f"{sorted(set(state) ^ names)[:5]}")
    soup = {}
    for name in folded[0]:
        values = [state[name] for state in folded]
        if any(v.shape != values[0].shape for v in values):
            raise ValueError(f"{name}: the ingredients' shapes differ ({[tuple(v.shape) for v in values]})")
        if not torch.is_floating_point(values[0]):
            soup[name] = values[0]
        elif "stem" in name.split("."):
            if any(not torch.equal(v, values[0]) for v in values):
                raise ValueError(f"{name}: the frozen stem differs between ingredients (a leg tuned it)")
            soup[name] = values[0]
        else:
            soup[name] = torch.stack([v.float() for v in values]).mean(dim=0).to(values[0].dtype)
    return soup


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mixformerv2_ros.training.soup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ingredients", nargs="+", type=Path,
                        help="exported graphs (X.onnx) or checkpoints (checkpoint.pt, weights.pt)")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT.onnx",
                        help="where the soup is exported (OUT.onnx and OUT.templates.onnx)")
    args = parser.parse_args(argv)
    if args.out.suffix != ".onnx":
        raise SystemExit(f"--out must name an .onnx file, got {args.out}")
    model = build_demo_model(DEMO_CONFIG, pretrained=True)
    states = [read_leg(path, model)["model"] for path in args.ingredients]
    model.load_state_dict(uniform_soup(states))
    model.eval()
    from mixformerv2_ros.model.onnx_export import export_onnx

    args.out.parent.mkdir(parents=True, exist_ok=True)
    print("exported", *export_onnx(model, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
