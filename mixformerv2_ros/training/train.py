"""Train the demo model on the CPU: ``python -m mixformerv2_ros.training.train --help``."""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from mixformerv2_ros.model.config import ModelConfig, shared_path
from mixformerv2_ros.tracker.backends import resolve_device
from mixformerv2_ros.training.data import PairSynthesizer
from mixformerv2_ros.training.dense_aux import DenseAuxHead, dense_aux_loss, search_tokens
from mixformerv2_ros.training.features import (cached_pairs, encode_pairs, parallel_pair_batches,
                                                sequential_pair_batches)
from mixformerv2_ros.training.losses import tracking_loss
from mixformerv2_ros.training.model import DEMO_CONFIG, build_demo_model, set_train_mode, unfreeze_stem_tail
from mixformerv2_ros.training.nanotrack_teacher import DistillHead, NanoTrackTeacher, distill_loss

DEFAULT_TRAIN_CLIPS = ("boat1", "building4", "truck4_1", "wakeboard10")
DEFAULT_HELDOUT_CLIPS = ("person12_1", "car16_1")
#: Clips of ../shared/data/train_sources.json held out of training (aerial, three data sets), so
#: that evaluation has unseen drone footage beyond uav_dev's two held-out clips.
DEFAULT_HELDOUT_EXTRA = ("Gull2", "S0601", "boat5", "person9", "MountainBike6")

DESCRIPTION = """\
Train the compact MixFormerV2 demo model (frozen tracking-pretrained NanoTrack v2 backbone as stem,
4 mixed-attention layers, width 192, 112/224 px crops) on template/search pairs synthesised
from drone clips (frame pairs) and still images (self-pairs with shifts, scales, blur, colour
and occlusion; patches pasted onto other images), with negatives (other places, the target
erased). Pairs go through the frozen stem once and are cached as features in --work.
Training runs on --threads CPU threads (or --device cuda; scripts/gpu_train.sh is the prepared
call for a lent GPU machine) for --minutes in total (a resumed run continues the same
budget and learning-rate schedule), saves --work/checkpoint.pt every --save-every steps, logs
loss and IoU, reports IoU on pairs from the held-out clips, and exports ONNX with --export.
"""


def add_data_arguments(p) -> None:
    """The options that say which clips are trained on (``training_clips``) and held out; the
    rollout recorder (``training.rollouts``) takes the same."""
    p.add_argument("--data", type=Path, default=shared_path("data"),
                   help="folder with uav_dev/ and imagenet_samples/ (default: <repo>/../shared/data)")
    p.add_argument("--train-clips", default=",".join(DEFAULT_TRAIN_CLIPS), help="uav_dev clips to train on")
    p.add_argument("--heldout-clips", default=",".join(DEFAULT_HELDOUT_CLIPS + DEFAULT_HELDOUT_EXTRA),
                   help="clips never trained on (uav_dev names, or names in --extra-dir); pairs from them "
                        "measure generalisation")
    p.add_argument("--extra-dir", type=Path,
                   help="a folder of more clips in the uav_dev layout (what ../shared/tools/extract_clips.py "
                        "writes from train_sources.json and, with --manifest, from this package's "
                        "training/extra_sources.json or training/more_sources.json): every clip in it not named "
                        "in --heldout-clips is trained on")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m mixformerv2_ros.training.train", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p)
    p.add_argument("--work", type=Path, default=Path("training_work"),
                   help="folder for the feature caches, checkpoint.pt and log.jsonl (default: training_work)")
    p.add_argument("--pairs", type=int, default=12000, help="training pairs to synthesise (default: 12000)")
    p.add_argument("--val-pairs", type=int, default=256, help="held-out pairs (default: 256)")
    p.add_argument("--image-share", type=float, default=0.5, help="share of still-image pairs (default: 0.5)")
    p.add_argument("--paste-share", type=float, default=0.75,
                   help="share of the still-image pairs that are pasted patches rather than random regions "
                        "(default: 0.75)")
    p.add_argument("--negative-share", type=float, default=0.25,
                   help="share of negative pairs, which train the score head (default: 0.25)")
    p.add_argument("--erased-share", type=float, default=0.4,
                   help="share of the negatives that show the target's place with the target hidden "
                        "(default: 0.4)")
    p.add_argument("--other-target-share", type=float, default=0.3,
                   help="share of the negatives that centre another clip's target where the template's "
                        "target should be, so the score learns *which* object it follows (default: 0.3)")
    p.add_argument("--distractor-share", type=float, default=0.0,
                   help="share of the positive clip pairs whose search crop also shows a look-alike: the "
                        "target of another frame of its clip or another clip's target, pasted farther from "
                        "the centre than the true target (default: 0)")
    p.add_argument("--small-target-share", type=float, default=0.0,
                   help="share of the clip pairs seen from farther away: frames shrunk so the target measures "
                        "8-32 px, which the tracker's crop then upsamples as it does for small drone targets "
                        "(default: 0)")
    p.add_argument("--stretch-share", type=float, default=0.0,
                   help="share of the clip pairs whose search frame is stretched to another aspect ratio "
                        "(its area kept), so the box must follow the target's edges in the search crop, not "
                        "the extent its templates or its clip show (default: 0)")
    p.add_argument("--max-stretch", type=float, default=0.4,
                   help="largest change of log(width / height) a stretch makes, drawn uniformly (default: 0.4, "
                        "aspect ratios changed by up to 1.5x)")
    p.add_argument("--max-gap", type=int, default=60,
                   help="frames between a clip pair's template and search frames, at most (default: 60; the "
                        "official MixFormer recipe samples up to 200: the tracker's static template is the "
                        "first frame, however long ago)")
    p.add_argument("--online-gap", type=int,
                   help="draw the online template within this many frames of the search frame, as the tracker's "
                        "is at most one update interval old (default: within --max-gap of the template, the "
                        "legs' recipe)")
    p.add_argument("--rollouts", type=Path,
                   help="records of the tracker's own runs on the training clips (training.rollouts writes them)")
    p.add_argument("--rollout-share", type=float, default=0.0,
                   help="share of the pairs cut from --rollouts: the search crop where the tracker cut it, "
                        "the templates it held, the truth as label (default: 0)")
    p.add_argument("--minutes", type=float, default=30.0, help="total training time budget (default: 30)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (e.g. for a smoke test)")
    p.add_argument("--batch", type=int, default=32, help="batch size (default: 32)")
    p.add_argument("--lr", type=float, default=4e-4, help="peak AdamW learning rate (default: 4e-4)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes that synthesise the pairs (default: 0, this process, one random stream: "
                        "the legs' recipe); with N > 0 each batch of 64 pairs is drawn from its own seed, so "
                        "the pairs are the same for any N but differ from N = 0's")
    p.add_argument("--device", default="cpu",
                   help="where the stem's encoding and the steps run: cpu, cuda or auto (the cached features "
                        "move there once; pair synthesis stays on the CPU, see --workers); default: cpu. On a "
                        "lent GPU machine, scripts/gpu_train.sh runs the whole call")
    p.add_argument("--seed", type=int, default=0, help="random seed of the pair synthesis (default: 0)")
    p.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps (default: 200)")
    p.add_argument("--log-every", type=int, default=50, help="log every N steps (default: 50)")
    p.add_argument("--no-pretrained", action="store_true", help="random stem (tests; no wheel needed)")
    p.add_argument("--config", type=json.loads, default={},
                   help='JSON overrides of the model config, e.g. \'{"depth": 1}\' (tests)')
    p.add_argument("--init-from", type=Path,
                   help="start a new run from the weights of this checkpoint.pt, e.g. one trained with "
                        "other crop sizes (the fixed position embeddings are rebuilt for this config), or of "
                        "an exported OUT.onnx with OUT.templates.onnx beside it, such as the shipped "
                        "mixformerv2_ros/models/demo.onnx (its dense head then starts afresh); fresh "
                        "optimizer and schedule")
    p.add_argument("--trainable", default="",
                   help="comma-separated parameter-name prefixes to train (e.g. score_head to recalibrate the "
                        "confidence on new negatives without moving the boxes); default: everything but the stem")
    p.add_argument("--no-dense-aux", action="store_true",
                   help="train without the dense centre/size head on the search tokens (training-only; "
                        "it is never exported, see training/dense_aux.py)")
    p.add_argument("--distill-weight", type=float, default=0.0,
                   help="weight of a training-only head on the search tokens that learns NanoTrack v2's "
                        "foreground map of each pair (distillation from the baseline's head, see "
                        "training/nanotrack_teacher.py); 0 (default) trains without it")
    p.add_argument("--stem-blocks", type=int, default=0,
                   help="fine-tune the last N blocks of the NanoTrack stem (features are then cached before "
                        "them, and they run in every step); 0 (default) keeps the whole stem frozen")
    p.add_argument("--stem-lr-scale", type=float, default=0.1,
                   help="the stem blocks' learning rate as a share of --lr (default: 0.1, so pretrained "
                        "features move slowly)")
    p.add_argument("--export", type=Path, metavar="OUT.onnx",
                   help="write OUT.onnx and OUT.templates.onnx when done (checked before training starts)")
    return p.parse_args(argv)


def learning_rate(peak: float, progress: float, warmup: float = 0.03) -> float:
    """Linear warm-up, then cosine decay to 2% of the peak, over the time budget."""
    if progress < warmup:
        return peak * max(progress / warmup, 0.02)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup)))))


def _batch_inputs(data, index):
    index = index.to(data["labels"].device)
    return data["template"][index].float(), data["online_template"][index].float(), data["search"][index].float()


def _batch_outputs(model, data, index):
    return model(*_batch_inputs(data, index))


@torch.no_grad()
def evaluate(model, data, batch: int = 128) -> dict[str, float]:
    """Mean IoU on the positives and score accuracy, over a feature set."""
    model.eval()
    ious, correct, total = [], 0, 0
    for begin in range(0, len(data["labels"]), batch):
        index = torch.arange(begin, min(begin + batch, len(data["labels"])))
        out = _batch_outputs(model, data, index)
        index = index.to(data["labels"].device)
        _, parts = tracking_loss(out, data["boxes"][index], data["labels"][index])
        if "iou" in parts:
            ious.append(parts["iou"])
        correct += int(((out["score_logit"] > 0) == (data["labels"][index] > 0.5)).sum())
        total += len(index)
    return {"iou": sum(ious) / max(len(ious), 1), "score_acc": correct / max(total, 1)}


def load_weights_for_new_sizes(model, weights: dict) -> None:
    """Load trained weights into a model whose crop sizes may differ.

    Every weight but the position embeddings is independent of the token grid; the position
    embeddings are fixed sin-cos tables, so the model's own (built for its grid) are kept.
    """
    grid_dependent = {name for name in model.state_dict() if name.split(".")[-1] in ("pos_embed_s", "pos_embed_t")}
    missing, unexpected = model.load_state_dict(
        {k: v for k, v in weights.items() if k not in grid_dependent}, strict=False)
    if set(missing) != grid_dependent or unexpected:
        raise ValueError(f"checkpoint does not fit this model: missing {sorted(set(missing) - grid_dependent)}, "
                         f"unexpected {sorted(unexpected)}")


def read_leg(path: Path, model, device="cpu") -> dict:
    """A leg's weights as a checkpoint dict (``model``, and the training-only heads where it has
    them): a checkpoint (``checkpoint.pt``, a GPU leg's ``weights.pt``) as saved, or exported
    graphs (``X.onnx`` with ``X.templates.onnx``) read back into ``model``'s names."""
    path = Path(path)
    if path.suffix == ".onnx":
        from mixformerv2_ros.training.onnx_import import weights_from_onnx

        return {"model": weights_from_onnx(path, model)}
    return torch.load(path, weights_only=True, map_location=device)


def _clip_dirs(data_dir: Path, names: str, extra_dir: Path | None = None):
    """Clip folders by name: uav_dev's first, then --extra-dir's."""
    dirs = []
    for name in filter(None, names.split(",")):
        candidates = [data_dir / "uav_dev" / name] + ([extra_dir / name] if extra_dir else [])
        found = [c for c in candidates if (c / "groundtruth.txt").is_file()]
        if not found:
            raise SystemExit(f"clip {name!r} not found in {' or '.join(str(c.parent) for c in candidates)}")
        dirs.append(found[0])
    return dirs


def _synthesis_key(args) -> str:
    """A short digest of every option that changes which pairs are synthesised, for the feature
    cache's file name: a cache built with other shares or clips must not be reused silently."""
    options = [args.train_clips, args.heldout_clips, str(args.extra_dir), args.image_share, args.paste_share,
               args.negative_share, args.erased_share, args.other_target_share]
    if args.distractor_share:  # a new option: caches built before it existed keep their names
        options.append(args.distractor_share)
    if args.small_target_share:  # the same
        options.append(["small", args.small_target_share])
    if args.stretch_share:  # the same
        options.append(["stretch", args.stretch_share, args.max_stretch])
    if args.rollout_share:  # the same; the records' content, not their file name, says which they are
        options.append(["rollouts", hashlib.sha1(args.rollouts.read_bytes()).hexdigest(), args.rollout_share])
    if args.workers:  # other pairs than the one-stream recipe's (the same for any number of workers)
        options.append("seeded-batches")
    if args.max_gap != 60 or args.online_gap is not None:  # the same
        options.append(["gaps", args.max_gap, args.online_gap])
    return hashlib.sha1(json.dumps(options).encode()).hexdigest()[:8]


def training_clips(args) -> list[Path]:
    dirs = _clip_dirs(args.data, args.train_clips)
    if args.extra_dir:
        held_out = set(filter(None, args.heldout_clips.split(",")))
        dirs += sorted(d for d in args.extra_dir.iterdir()
                       if (d / "groundtruth.txt").is_file() and d.name not in held_out)
    return dirs


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.export and args.export.suffix != ".onnx":
        raise SystemExit(f"--export must name an .onnx file, got {args.export}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = ModelConfig(**{**asdict(DEMO_CONFIG), **args.config})
    model = build_demo_model(config, pretrained=not args.no_pretrained)
    stem = model.backbone.patch_embed.stem
    tag = f"{'nanotrack' if not args.no_pretrained else 'random'}-{config.template_size}-{config.search_size}"
    stem_params = unfreeze_stem_tail(model, args.stem_blocks) if args.stem_blocks else []
    encoder = stem
    if stem_params:
        start = model.backbone.patch_embed.cached_start
        tag += f"-before{start}"  # the cache holds the stem's value before step `start`
        encoder = lambda images: stem.run_until(images, start)  # noqa: E731
    if args.rollout_share and not args.rollouts:
        raise SystemExit("--rollout-share needs --rollouts (python -m mixformerv2_ros.training.rollouts writes them)")
    train_clips = training_clips(args)
    print(f"training clips ({len(train_clips)}):", ",".join(d.name for d in train_clips), flush=True)
    make_train_synth = functools.partial(
        PairSynthesizer, config, train_clips, args.data / "imagenet_samples", image_share=args.image_share,
        paste_share=args.paste_share, negative_share=args.negative_share, erased_share=args.erased_share,
        other_target_share=args.other_target_share, distractor_share=args.distractor_share,
        small_target_share=args.small_target_share, stretch_share=args.stretch_share,
        max_stretch=args.max_stretch, max_gap=args.max_gap, online_gap=args.online_gap,
        seed=args.seed, rollouts=args.rollouts if args.rollout_share else None, rollout_share=args.rollout_share)

    def pair_batches(make_synth, seed, count):
        if args.workers:
            return parallel_pair_batches(make_synth, seed, count, args.workers)
        return sequential_pair_batches(make_synth(), count)

    device = torch.device(resolve_device(args.device))
    if device.type == "cuda":  # TF32 matrix products: the losses need no more than its 10-bit mantissa
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    stem.to(device)  # the feature cache is built on the training device too
    grid = config.search_size // config.patch_size
    teacher = None
    if args.distill_weight:
        if args.no_dense_aux or args.no_pretrained:
            raise SystemExit("--distill-weight needs the dense head's token path and the NanoTrack stem")
        teacher = NanoTrackTeacher(stem, grid)
        tag += "-teacher"
    train = cached_pairs(args.work / f"train-{tag}-{args.pairs}-{args.seed}-{_synthesis_key(args)}.pt",
                         lambda: encode_pairs(pair_batches(make_train_synth, args.seed, args.pairs), encoder,
                                              config, args.pairs, teacher=teacher, device=device))
    val = None
    if args.heldout_clips and args.val_pairs:
        make_val_synth = functools.partial(
            PairSynthesizer, config, _clip_dirs(args.data, args.heldout_clips, args.extra_dir),
            negative_share=args.negative_share, erased_share=args.erased_share,
            other_target_share=args.other_target_share, seed=args.seed + 1)
        val = cached_pairs(args.work / f"val-{tag}-{args.val_pairs}-{args.seed}-{_synthesis_key(args)}.pt",
                           lambda: encode_pairs(pair_batches(make_val_synth, args.seed + 1, args.val_pairs),
                                                encoder, config, args.val_pairs, teacher=teacher, device=device))

    model.to(device)
    train = {key: value.to(device) for key, value in train.items()}
    if val is not None:
        val = {key: value.to(device) for key, value in val.items()}
    aux_head = None if args.no_dense_aux else DenseAuxHead(config.embed_dim, grid).to(device)
    distill_head = DistillHead(config.embed_dim, grid).to(device) if teacher is not None else None
    prefixes = tuple(filter(None, args.trainable.split(",")))
    if prefixes:
        if not any(name.startswith(prefixes) for name, _ in model.named_parameters()):
            raise SystemExit(f"--trainable {args.trainable}: no parameter name starts with that")
        for name, param in model.named_parameters():
            if not name.startswith(prefixes):
                param.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if aux_head is not None:
        trainable += list(aux_head.parameters())
    if distill_head is not None:
        trainable += list(distill_head.parameters())
    tuned_stem = {id(p) for p in stem_params}
    groups = [{"params": [p for p in trainable if id(p) not in tuned_stem], "lr_scale": 1.0}]
    stem_group = [p for p in trainable if id(p) in tuned_stem]  # empty when --trainable leaves the stem out
    if stem_group:
        groups.append({"params": stem_group, "lr_scale": args.stem_lr_scale})
    optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=1e-4)
    checkpoint_path = args.work / "checkpoint.pt"
    step, elapsed = 0, 0.0
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=True, map_location=device)
        model.load_state_dict(state["model"])
        if aux_head is not None:
            aux_head.load_state_dict(state["aux_head"])
        if distill_head is not None:
            distill_head.load_state_dict(state["distill_head"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
        print(f"resumed at step {step} after {elapsed / 60:.1f} min")
    elif args.init_from:
        initial = read_leg(args.init_from, model, device)
        load_weights_for_new_sizes(model, initial["model"])
        # The dense head's weights do not depend on the token grid. A fresh, random one would
        # send large, noisy gradients into the backbone for the first hundred steps of every leg
        # (its loss starts near 4 against 0.4 at the end of the previous leg).
        carried = aux_head is not None and "aux_head" in initial
        if carried:
            aux_head.load_state_dict(initial["aux_head"])
        if distill_head is not None and "distill_head" in initial:  # the same reason
            distill_head.load_state_dict(initial["distill_head"])
        print(f"initialised from {args.init_from}" + (" (with its dense head)" if carried else ""))

    def save():
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    **({"aux_head": aux_head.state_dict()} if aux_head is not None else {}),
                    **({"distill_head": distill_head.state_dict()} if distill_head is not None else {}),
                    "elapsed": elapsed, "config": asdict(config)}, checkpoint_path)

    budget = args.minutes * 60
    generator = torch.Generator().manual_seed(args.seed + step)
    log_path = args.work / "log.jsonl"
    running: dict[str, float] = {}
    set_train_mode(model)
    while elapsed < budget and (args.max_steps is None or step < args.max_steps):
        tick = time.monotonic()
        lr = learning_rate(args.lr, elapsed / budget)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # checkpoints from before --stem-blocks have none
        index = torch.randint(len(train["labels"]), (args.batch,), generator=generator).to(device)
        boxes, labels = train["boxes"][index], train["labels"][index]
        if aux_head is None:
            loss, parts = tracking_loss(_batch_outputs(model, train, index), boxes, labels)
        else:
            outputs, tokens = search_tokens(model, *_batch_inputs(train, index))
            loss, parts = tracking_loss(outputs, boxes, labels)
            aux_loss, aux_parts = dense_aux_loss(*aux_head(tokens), boxes, labels)
            loss = loss + aux_loss
            parts.update(aux_parts)
            if distill_head is not None:
                distill = distill_loss(distill_head(tokens), train["teacher"][index])
                loss = loss + args.distill_weight * distill
                parts["distill"] = distill.item()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        step += 1
        elapsed += time.monotonic() - tick
        for key, value in parts.items():
            running[key] = 0.95 * running.get(key, value) + 0.05 * value
        if step % args.log_every == 0 or elapsed >= budget:
            record = {"step": step, "minutes": round(elapsed / 60, 2), "lr": lr,
                      **{f"train_{k}": round(v, 4) for k, v in running.items()}}
            if val is not None and step % (args.log_every * 10) == 0:
                record.update({f"heldout_{k}": round(v, 4) for k, v in evaluate(model, val).items()})
                set_train_mode(model)
            print(json.dumps(record), flush=True)
            with open(log_path, "a") as log:
                log.write(json.dumps(record) + "\n")
        if step % args.save_every == 0:
            save()
    save()
    final = {"step": step, "train": evaluate(model, {k: v[:1024] for k, v in train.items()})}
    if val is not None:
        final["heldout"] = evaluate(model, val)
    print(json.dumps(final), flush=True)
    if args.export:
        from mixformerv2_ros.model.onnx_export import export_onnx

        paths = export_onnx(model, args.export)
        print("exported", *paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
