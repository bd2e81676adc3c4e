"""Pack what a training run reads into one folder small enough to travel to a lent GPU machine.

``python -m mixformerv2_ros.training.bundle --extra-dir CLIPS --out .gpu_train``

A GPU machine here gets a copy of the checkout and the folders named in its ``carry`` list, 64 MiB
in all, and nothing beside the checkout (no ``../shared``). The training data (the uav_dev training
clips, the extracted clips, the still images, NanoTrack's graphs) is several times that, so this
writes a copy with every frame re-encoded as JPEG at ``--quality``, and, if that is still over
the sum of ``--part-mb``, only every k-th frame of each clip (its ground truth lines alike); with
several parts (one carry each, on a machine kept warm between calls) the clips are spread over
them. The held-out clips
are left out: a bundle holds training data only. Layout::

    OUT/shared/models/nanotrack_v2/   the stem's and head's graphs, LICENSE, README
    OUT/shared/data/imagenet_samples/ the still images
    OUT/shared/data/uav_dev/<clip>/   the uav_dev training clips
    OUT/clips/<clip>/                 the other training clips (for --extra-dir)
    OUT/BUNDLE.json                   what was packed, the quality and the frame step

On the GPU machine, ``ln -s OUT/shared ../shared`` puts it where ``shared_path`` looks, and
``--extra-dir OUT/clips`` names the clips (``scripts/gpu_train.sh`` does both, and first moves
the clips of the other parts, ``OUT.2/clips`` ..., into ``OUT/clips``). Research data: the
bundle belongs in an ignored folder, never in a commit.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import cv2

from mixformerv2_ros.model.config import shared_path
from mixformerv2_ros.training.train import DEFAULT_HELDOUT_CLIPS, DEFAULT_HELDOUT_EXTRA, DEFAULT_TRAIN_CLIPS


def _reencode(src: Path, dst: Path, quality: int) -> None:
    image = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {src}")
    if not cv2.imwrite(str(dst.with_suffix(".jpg")), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"cannot write {dst}")


def _copy_clip(src: Path, dst: Path, quality: int, step: int) -> None:
    frames = sorted(p for p in (src / "img").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    lines = (src / "groundtruth.txt").read_text().splitlines()
    if len(lines) != len(frames):
        raise ValueError(f"{src}: {len(frames)} frames but {len(lines)} ground-truth lines")
    (dst / "img").mkdir(parents=True)
    kept = range(0, len(frames), step)
    for i in kept:
        _reencode(frames[i], dst / "img" / frames[i].name, quality)
    (dst / "groundtruth.txt").write_text("\n".join(lines[i] for i in kept) + "\n")


def _size_mb(folder: Path) -> float:
    """Bytes under ``folder`` in MiB (the unit of the device tool's carry limit)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def pack(out: Path, extra_dir: Path | None, data: Path, models: Path, train_clips, held_out,
         quality: int, step: int, part_mb=()) -> dict:
    """Write one bundle at ``out`` (replaced if there); returns what BUNDLE.json records.

    With ``part_mb`` (one bound per part), the clips are spread over ``out`` (the first part, with
    shared/) and ``out.2``, ``out.3`` ... (clips/ only), each clip whole, first fit in size order.
    """
    for old in [out, *out.parent.glob(out.name + ".[0-9]*")]:
        if old.exists():
            shutil.rmtree(old)
    nanotrack = out / "shared" / "models" / "nanotrack_v2"
    shutil.copytree(models / "nanotrack_v2", nanotrack)
    images = out / "shared" / "data" / "imagenet_samples"
    images.mkdir(parents=True)
    for path in sorted((data / "imagenet_samples").glob("*.jpg")):
        _reencode(path, images / path.name, quality)
    staging = out / "clips"
    packed = []
    for name in train_clips:
        _copy_clip(data / "uav_dev" / name, out / "shared" / "data" / "uav_dev" / name, quality, step)
        packed.append(name)
    if extra_dir:
        for clip in sorted(extra_dir.iterdir()):
            if (clip / "groundtruth.txt").is_file() and clip.name not in held_out:
                _copy_clip(clip, staging / clip.name, quality, step)
                packed.append(clip.name)
    parts = {}
    if len(part_mb) > 1 and staging.is_dir():
        free = [part_mb[0] - _size_mb(out) + _size_mb(staging)] + list(part_mb[1:])
        for clip in sorted(staging.iterdir(), key=_size_mb, reverse=True):
            size = _size_mb(clip)
            fits = [i for i, room in enumerate(free) if room >= size]
            if not fits:
                raise ValueError(f"clip {clip.name} ({size:.1f} MB) fits in no part: {free}")
            free[fits[0]] -= size
            if fits[0]:
                target = out.parent / f"{out.name}.{fits[0] + 1}" / "clips"
                target.mkdir(parents=True, exist_ok=True)
                clip.rename(target / clip.name)
                parts.setdefault(fits[0] + 1, []).append(clip.name)
    record = {"clips": packed, "quality": quality, "frame_step": step, "held_out_left_out": sorted(held_out),
              "mb": round(_size_mb(out) + sum(_size_mb(out.parent / f"{out.name}.{k}") for k in parts), 1),
              "parts": {f"{out.name}.{k}": sorted(names) for k, names in sorted(parts.items())}}
    (out / "BUNDLE.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mixformerv2_ros.training.bundle", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="bundle folder (replaced if it exists)")
    p.add_argument("--extra-dir", type=Path, help="extracted clips (as train --extra-dir)")
    p.add_argument("--data", type=Path, default=shared_path("data"), help="folder with uav_dev/ and imagenet_samples/")
    p.add_argument("--models", type=Path, default=shared_path("models"), help="folder with nanotrack_v2/")
    p.add_argument("--train-clips", default=",".join(DEFAULT_TRAIN_CLIPS), help="uav_dev clips to pack")
    p.add_argument("--heldout-clips", default=",".join(DEFAULT_HELDOUT_CLIPS + DEFAULT_HELDOUT_EXTRA),
                   help="clips left out of the bundle")
    p.add_argument("--quality", type=int, default=80, help="JPEG quality of the copies (default: 80)")
    p.add_argument("--part-mb", default="44",
                   help="size bound of each part in MiB, comma-separated (default: 44, one part, which leaves room "
                        "for the checkout in one 64 MiB carry); e.g. 24,48,48 for three calls, the first "
                        "carrying the golden files of scripts/gpu_check.sh too")
    args = p.parse_args(argv)
    part_mb = [float(x) for x in args.part_mb.split(",")]
    budget = sum(part_mb) - 2.0 * len(part_mb)  # whole clips leave some room unused in each part
    held_out = set(filter(None, args.heldout_clips.split(",")))
    train_clips = [c for c in filter(None, args.train_clips.split(",")) if c not in held_out]
    record = pack(args.out, args.extra_dir, args.data, args.models, train_clips, held_out, args.quality, 1)
    print(f"every frame: {record['mb']} MB", flush=True)
    if record["mb"] > budget:
        fixed = _size_mb(args.out / "shared" / "models") + _size_mb(args.out / "shared" / "data" / "imagenet_samples")
        if fixed >= min(budget, part_mb[0]):
            raise SystemExit(f"the graphs and still images alone are {fixed:.1f} MB: lower --quality")
        step = math.ceil((record["mb"] - fixed) / (budget - fixed))
    else:
        step = 1
    record = pack(args.out, args.extra_dir, args.data, args.models, train_clips, held_out, args.quality, step,
                  part_mb)
    print(f"every {step}th frame: {record['mb']} MB in {1 + len(record['parts'])} part(s)", flush=True)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
