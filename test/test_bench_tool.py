"""mixformerv2-bench runs every CPU path for the shipped model and reports ratios to the full forward."""

from __future__ import annotations

import json

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
