"""mixformerv2-export: turn an official MixFormerV2 checkpoint into ONNX graphs for the runtime."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixformerv2-export",
        description="Export a MixFormerV2 checkpoint (official .pth.tar, loaded safely) as two ONNX "
                    "graphs: OUT.onnx, the per-frame step (template_cache, search -> boxes_cxcywh, "
                    "score_logit, probs), and OUT.templates.onnx (template, online_template -> "
                    "template_cache), run only when the templates change. Both carry the crop sizes, "
                    "crop factors and normalisation as ONNX metadata, so the tracker needs no torch "
                    "and no config file to run them.")
    parser.add_argument("checkpoint", help="official checkpoint, e.g. mixformerv2_small.pth.tar")
    parser.add_argument("output", help="path of the per-frame graph, ending in .onnx")
    parser.add_argument("--variant", choices=["small", "base"], default=None,
                        help="expected variant; default: inferred from the checkpoint's tensors")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from mixformerv2_ros.model import CheckpointError, export_onnx, load_checkpoint

    try:
        model = load_checkpoint(args.checkpoint, args.variant)
        step, templates = export_onnx(model, args.output)
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"mixformerv2-export: {exc}", file=sys.stderr)
        return 1
    cfg = model.config
    print(f"MixFormerV2-{cfg.variant} (depth {cfg.depth}, {cfg.search_size}/{cfg.template_size} px) ->\n"
          f"  {step}\n  {templates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
