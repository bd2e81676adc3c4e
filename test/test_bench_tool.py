"""mixformerv2-bench runs every CPU path for the shipped model and reports ratios to the full forward."""

from __future__ import annotations

import json

import pytest

from mixformerv2_ros.tools import bench


def test_bench_times_every_cpu_path_of_the_shipped_model(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--variants", "demo", "--iterations", "2", "--warmup", "1", "--low-precision",
                       "--no-cuda", "--threads", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    paths = [r["path"] for r in rows]
    assert paths == ["full forward, PyTorch fp32", "cached step, PyTorch fp32", "cached step, ONNX Runtime fp32",
                     "cached step, ONNX Runtime int8", "cached step, ONNX Runtime int8-static",
                     "cached step, OpenVINO fp32", "cached step, OpenVINO bf16", "cached step, OpenVINO int8"]
    full = rows[0]["ms"]
    for row in rows:
        assert row["variant"] == "demo"
        if row["ms"] is None:  # a path this CPU cannot run (bf16 without bf16 kernels) says why
            assert "OpenVINO bf16" in row["path"] and "no bf16 kernels" in row["unavailable"]
            continue
        assert row["ms"] > 0 and abs(row["speedup_vs_full"] - full / row["ms"]) < 1e-9
    table = capsys.readouterr().out
    assert "ONNX Runtime int8-static" in table and "OpenVINO bf16" in table and "x" in table


def test_a_path_that_raises_is_a_failed_row_and_the_run_goes_on():
    """What the CUDA-graph capture did on the lent GPU (2026-12-04): its first call raised, and the
    bench printed nothing. Any path's RuntimeError, on the CPU as on a GPU, is now its row's reason."""
    calls = []

    def breaks():
        calls.append(1)
        raise RuntimeError("operation not permitted when stream is capturing\nCUDA kernel errors ...")

    ms, failed = bench._timed(breaks, iterations=3, warmup=1)
    assert ms is None and failed == "RuntimeError: operation not permitted when stream is capturing"
    assert calls == [1]
    ms, failed = bench._timed(lambda: sum(range(100)), iterations=3, warmup=1)
    assert failed is None and ms > 0
    row = {"variant": "demo", "device": "cuda", "path": "cached step, fp16 + CUDA graph", "ms": None,
           "failed": "RuntimeError: operation not permitted", "speedup_vs_full": None}
    assert bench.format_row(row).split() == ["demo", "cuda", "cached", "step,", "fp16", "+", "CUDA", "graph",
                                             "FAILED:", "RuntimeError:", "operation", "not", "permitted"]
    timed = dict(row, failed=None, ms=4.0, speedup_vs_full=2.5)
    assert bench.format_row(timed).endswith("4.00    2.50x")


def test_only_a_runtime_error_is_taken_as_a_failed_path():
    """A bug in the bench itself (a TypeError, a KeyError) must stop the run, not hide as a row."""
    def bug():
        raise TypeError("predict() takes 2 positional arguments but 3 were given")

    with pytest.raises(TypeError):
        bench._timed(bug, iterations=1, warmup=0)
