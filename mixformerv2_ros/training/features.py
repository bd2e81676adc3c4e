"""Synthesised pairs passed once through the frozen stem and kept as fp16 tensors.

The stem is most of the network's arithmetic; with it frozen, each pair's stem features never
change, so training on a cache makes a CPU step several times cheaper than re-running the stem.
The price: augmentations are drawn once per cached pair, so the cache must be large.

Synthesis (decoding frames, cropping, augmenting) is plain NumPy/OpenCV work on one core. On a
machine with many cores and a GPU it, not the stem, bounds how large a cache a short lease can
build, so ``parallel_pair_batches`` spreads it over worker processes.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch


def sequential_pair_batches(synthesizer, count: int, batch: int = 64) -> Iterator[list]:
    """``count`` pairs from one synthesizer's random stream, ``batch`` at a time (the legs' recipe)."""
    for begin in range(0, count, batch):
        yield [synthesizer.sample() for _ in range(min(batch, count - begin))]


_WORKER_SYNTHESIZER = None


def _start_worker(make_synthesizer) -> None:
    global _WORKER_SYNTHESIZER
    _WORKER_SYNTHESIZER = make_synthesizer()


def _draw_chunk(task) -> list:
    seed, chunk, size = task
    _WORKER_SYNTHESIZER.rng = np.random.default_rng([seed, chunk])
    return [_WORKER_SYNTHESIZER.sample() for _ in range(size)]


def parallel_pair_batches(make_synthesizer: Callable, seed: int, count: int, workers: int,
                          batch: int = 64) -> Iterator[list]:
    """``count`` pairs drawn by ``workers`` processes, ``batch`` at a time, in order.

    Batch k comes from a synthesizer whose random stream is reseeded with ``(seed, k)``, so the
    pairs are the same for any number of workers (but not the sequential stream's).
    ``make_synthesizer`` must pickle (e.g. ``functools.partial(PairSynthesizer, ...)``): each
    worker builds its own, with its own frame cache. Workers are spawned, not forked, so that
    no copy of the parent's torch threads or CUDA context is inherited.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    tasks = iter([(seed, k, min(batch, count - begin)) for k, begin in enumerate(range(0, count, batch))])
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(make_synthesizer,)) as pool:
        # a bounded window of batches in flight: workers faster than the stem must not pile up
        # every pair in memory (a batch of 64 pairs is about 15 MB of crops)
        pending = collections.deque(pool.apply_async(_draw_chunk, (task,))
                                    for task in itertools.islice(tasks, 4 * workers))
        while pending:
            batch_pairs = pending.popleft().get()
            for task in itertools.islice(tasks, 1):
                pending.append(pool.apply_async(_draw_chunk, (task,)))
            yield batch_pairs


def _to_input(crops, mean, std, device="cpu") -> torch.Tensor:
    """uint8 HWC crops -> normalised NCHW floats on ``device``. The bytes move first: on a GPU
    the conversion then costs the encoding process nothing (it bounded a GPU leg's synthesis)."""
    batch = torch.from_numpy(np.stack(crops)).to(device).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    return (batch - mean) / torch.tensor(std, device=device).view(1, 3, 1, 1)


@torch.no_grad()
def encode_pairs(batches: Iterable[list], stem, config, count: int, log=print, teacher=None,
                 device: str | torch.device = "cpu") -> dict:
    """Pair batches -> {template, online_template, search: fp16 stem features; boxes; labels}.

    The stem (and the teacher) run on ``device``; the features are kept on the CPU. With a
    ``teacher`` (see ``nanotrack_teacher``), also ``teacher``: its map per search token (fp16).
    """
    parts = {"template": [], "online_template": [], "search": [], "boxes": [], "labels": []}
    if teacher is not None:
        parts["teacher"] = []
    start = time.monotonic()
    done = 0
    for number, pairs in enumerate(batches):
        images = {key: _to_input([getattr(p, key) for p in pairs], config.mean, config.std, device)
                  for key in ("template", "online_template", "search")}
        for key, value in images.items():
            parts[key].append(stem(value).half().cpu())
        if teacher is not None:
            parts["teacher"].append(teacher(images["template"], images["search"]).half().cpu())
        parts["boxes"].append(torch.from_numpy(np.stack([p.box_cxcywh for p in pairs])))
        parts["labels"].append(torch.tensor([p.label for p in pairs], dtype=torch.float32))
        done += len(pairs)
        if log and number % 20 == 0:
            log(f"encoded {done}/{count} pairs ({time.monotonic() - start:.0f} s)")
    if done != count:
        raise ValueError(f"expected {count} pairs, the batches held {done}")
    return {key: torch.cat(values) for key, values in parts.items()}


def cached_pairs(path: Path, make) -> dict:
    """Load the feature cache at ``path``, or build it with ``make()`` and save it there."""
    path = Path(path)
    if path.exists():
        return torch.load(path, weights_only=True)
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return data
