"""mixformerv2-bench: per-frame network time of each inference path, measured in one run.

Full-depth S and B networks with random weights (timing does not depend on the weights) and the
shipped demo model run on the same inputs: the full forward in PyTorch (what the official
tracker does every frame), the cached step in PyTorch, and the cached step in ONNX Runtime in
fp32 and, with ``--low-precision``, on every other CPU path (``backends.CPU_PATHS``: ONNX Runtime
dynamic and static QDQ int8, OpenVINO fp32, bf16 and int8; whether a model may use them is the
accuracy gate's call, ``tracker.precision``); on a CUDA machine also the cached step
in fp16 and replayed as a CUDA graph. Each line gives the ratio to the full forward.

The demo model's ONNX Runtime lines run the shipped graphs; its PyTorch lines run the same
architecture (``training.model``, which needs the NanoTrack v2 backbone file from ../shared)
with random weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time


def _time_ms(fn, iterations: int, warmup: int, sync=None) -> float:
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def _timed(fn, iterations: int, warmup: int, sync=None) -> tuple[float | None, str | None]:
    """(median ms, None), or (None, the error's first line) where running ``fn`` raises: a path that
    breaks (a GPU capture a driver refuses, a graph a CPU plugin cannot compile) becomes a row of its
    own, and the other paths' figures still come out of the same run."""
    try:
        return _time_ms(fn, iterations, warmup, sync), None
    except RuntimeError as exc:
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]


def format_row(row: dict) -> str:
    """One line of the printed table: the time and speedup, or why the path has no time."""
    head = f"{row['variant']:8} {row['device']:6} {row['path']:41}"
    if row.get("failed"):
        return f"{head} FAILED: {row['failed']}"
    if row["ms"] is None:
        return f"{head} not available: {row['unavailable']}"
    return f"{head} {row['ms']:9.2f} {row['speedup_vs_full']:7.2f}x"


def _network(variant: str):
    """(random-weight torch model, shipped ONNX step graph or None) of a variant name."""
    import torch

    from mixformerv2_ros.model import VARIANTS, MixFormerV2

    torch.manual_seed(0)
    if variant == "demo":
        from mixformerv2_ros.model.config import demo_model_path
        from mixformerv2_ros.training.model import DEMO_CONFIG, build_demo_model

        return build_demo_model(DEMO_CONFIG, pretrained=False).eval(), demo_model_path()
    if variant not in VARIANTS:
        raise SystemExit(f"mixformerv2-bench: unknown variant {variant!r} (small, base, demo)")
    return MixFormerV2(VARIANTS[variant]).eval(), None


def cpu_path_label(path: str) -> str:
    """'openvino-bf16' -> 'OpenVINO bf16', 'int8' -> 'ONNX Runtime int8'."""
    return f"OpenVINO {path.removeprefix('openvino-')}" if path.startswith("openvino-") else f"ONNX Runtime {path}"


def bench_variant(variant: str, iterations: int, warmup: int, threads: int | None, cuda: bool,
                  low_precision: bool = False) -> list[dict]:
    import numpy as np
    import torch

    from mixformerv2_ros.model import export_onnx
    from mixformerv2_ros.tracker.backends import CPU_PATHS, TorchBackend, cpu_path_backend

    model, shipped = _network(variant)
    cfg = model.config
    rng = np.random.default_rng(0)
    template = rng.standard_normal((1, 3, cfg.template_size, cfg.template_size), dtype=np.float32)
    search = rng.standard_normal((1, 3, cfg.search_size, cfg.search_size), dtype=np.float32)
    rows = []

    def add(path, device, ms, unavailable=None, failed=None):
        rows.append({"variant": variant, "path": path, "device": device, "ms": ms,
                     **({"unavailable": unavailable} if unavailable else {}),
                     **({"failed": failed} if failed else {})})

    t, s = torch.from_numpy(template), torch.from_numpy(search)
    with torch.inference_mode():
        add("full forward, PyTorch fp32", "cpu", _time_ms(lambda: model(t, t, s), iterations, warmup))
    cpu = TorchBackend(model, "cpu")
    cpu.set_templates(template, template)
    add("cached step, PyTorch fp32", "cpu", _time_ms(lambda: cpu.predict(search), iterations, warmup))
    with tempfile.TemporaryDirectory() as tmp:
        step = shipped or export_onnx(model, f"{tmp}/{variant}.onnx")[0]
        for path in CPU_PATHS if low_precision else ("fp32",):
            try:
                backend = cpu_path_backend(step, path, threads)
            except ValueError as exc:  # e.g. bf16 on a CPU without bf16 kernels: say so, time the rest
                add(f"cached step, {cpu_path_label(path)}", "cpu", None, str(exc))
                continue
            backend.set_templates(template, template)
            step_ms, failed = _timed(lambda: backend.predict(search), iterations, warmup)
            add(f"cached step, {cpu_path_label(path)}", "cpu", step_ms, failed=failed)
            backend.close()
    if cuda:
        sync = torch.cuda.synchronize
        gpu_model = _network(variant)[0]
        gpu_model.load_state_dict(model.state_dict())
        gpu_model = gpu_model.cuda()
        tg, sg = t.cuda(), s.cuda()
        with torch.inference_mode():
            add("full forward, PyTorch fp32", "cuda", _time_ms(lambda: gpu_model(tg, tg, sg), iterations, warmup, sync))
        for label, kwargs in (("cached step, PyTorch fp32", {}),
                              ("cached step, PyTorch fp16", {"precision": "fp16"}),
                              ("cached step, fp16 + CUDA graph", {"precision": "fp16", "cuda_graph": True})):
            fresh = _network(variant)[0]
            fresh.load_state_dict(model.state_dict())
            backend = TorchBackend(fresh, "cuda", **kwargs)
            backend.set_templates(template, template)
            step_ms, failed = _timed(lambda: backend.predict(search), iterations, warmup, sync)
            add(label, "cuda", step_ms, failed=failed)
            backend.close()
    for row in rows:
        base = next(r["ms"] for r in rows if r["device"] == row["device"] and r["path"].startswith("full"))
        row["speedup_vs_full"] = base / row["ms"] if row["ms"] else None
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixformerv2-bench",
        description="Median per-frame network time (ms) of the full PyTorch forward, the cached "
                    "step in PyTorch and the cached step in ONNX Runtime (fp32; with --low-precision "
                    "every CPU path: ONNX Runtime int8 and static int8, OpenVINO fp32, bf16, int8), "
                    "for full-depth MixFormerV2-S (224/112 px, depth 4, MLP ratio 1) and -B "
                    "(288/128 px, depth 8, MLP ratio 4) with random weights and for the shipped demo "
                    "model, all in one run on the same inputs; with CUDA also fp32/fp16/CUDA-graph on "
                    "the GPU. 'speedup' is the full forward's time on the same device divided by the "
                    "line's time.")
    parser.add_argument("--variants", default="small,base,demo", help="comma-separated: small, base, demo")
    parser.add_argument("--iterations", type=int, default=50, help="timed runs per path (median)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before timing")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch and ONNX Runtime intra-op threads (default: usable cores)")
    parser.add_argument("--no-cuda", action="store_true", help="skip the GPU paths even if CUDA exists")
    parser.add_argument("--low-precision", action="store_true",
                        help="also time every other CPU path of the step graph: ONNX Runtime dynamic int8 and "
                             "static int8 (QDQ, calibrated on the gate clip), OpenVINO fp32, bf16 and int8 (QDQ)")
    parser.add_argument("--json", metavar="OUT", help="also write the rows as JSON to OUT")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from mixformerv2_ros.tracker.backends import cpu_description, physical_cores

    threads = args.threads or physical_cores()
    torch.set_num_threads(threads)
    cuda = torch.cuda.is_available() and not args.no_cuda
    device_name = torch.cuda.get_device_name() if cuda else "no CUDA"
    cpu = cpu_description()
    print(f"mixformerv2-bench: torch {torch.__version__}, {threads} CPU threads, {cpu}, {device_name}")
    rows = []
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        rows += bench_variant(variant, args.iterations, args.warmup, threads, cuda, args.low_precision)
    print(f"{'variant':8} {'device':6} {'path':41} {'ms/frame':>9} {'speedup':>8}")
    for r in rows:
        print(format_row(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": threads, "cpu": cpu, "device": device_name, "rows": rows}, f, indent=2)
    return 1 if any(r.get("failed") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
