"""The inference backends behind one interface: same answers, clear errors."""

import numpy as np
import pytest

from mixformerv2_ros.tracker.backends import OnnxRuntimeBackend, TorchBackend, create_backend

CUDA = pytest.importorskip("torch").cuda.is_available()


@pytest.fixture(scope="module")
def golden_small(golden_dir):
    return golden_dir / "mixformerv2_small_d1.pth.tar", np.load(golden_dir / "mixformerv2_small_d1_io.npz")


def _predict(backend, io, case=0):
    backend.set_templates(io[f"case{case}_template"], io[f"case{case}_online_template"])
    return backend.predict(io[f"case{case}_search"])


def test_torch_and_onnxruntime_agree(golden_small, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path, io = golden_small
    ort_pred = _predict(create_backend(path, "onnxruntime"), io)
    torch_pred = _predict(create_backend(path, "torch"), io)
    np.testing.assert_allclose(ort_pred.box_cxcywh, torch_pred.box_cxcywh, atol=1e-4)
    assert ort_pred.score == pytest.approx(torch_pred.score, abs=1e-4)
    assert ort_pred.score == pytest.approx(1 / (1 + np.exp(-io["case0_score_logit"][0])), abs=1e-4)
    # the .pth.tar was exported once, into the cache keyed by its content
    exported = list((tmp_path / "mixformerv2_ros" / "onnx").glob("*/model.onnx"))
    assert len(exported) == 1
    assert isinstance(create_backend(exported[0]), OnnxRuntimeBackend)


def test_int8_backend_stays_close(golden_small, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path, io = golden_small
    fp32 = _predict(create_backend(path, "onnxruntime"), io, 1)
    int8 = _predict(create_backend(path, "onnxruntime", precision="int8"), io, 1)
    np.testing.assert_allclose(int8.box_cxcywh, fp32.box_cxcywh, atol=0.02)


def test_openvino_paths_run_the_same_graphs(golden_small, tmp_path, monkeypatch):
    """OpenVINO fp32 gives ONNX Runtime's answer on the official golden case; bf16 and int8 (the QDQ
    graph) run the same model and stay in the crop, or bf16 is refused on a CPU without bf16
    kernels (not silently run in f32); the backend says which path it is."""
    from mixformerv2_ros.tracker.backends import OpenVinoBackend

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path, io = golden_small
    ort = _predict(create_backend(path, "onnxruntime"), io)
    ov = create_backend(path, "onnxruntime", precision="openvino-fp32", threads=1)
    assert isinstance(ov, OpenVinoBackend) and ov.precision == "openvino-fp32" and ov.config.search_size == 224
    ov_pred = _predict(ov, io)
    np.testing.assert_allclose(ov_pred.box_cxcywh, ort.box_cxcywh, atol=1e-4)
    assert ov_pred.score == pytest.approx(ort.score, abs=1e-4)
    import openvino

    has_bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if not has_bf16:
        with pytest.raises(ValueError, match="no bf16 kernels"):
            create_backend(path, "onnxruntime", precision="openvino-bf16", threads=1)
    for low in ("openvino-bf16", "openvino-int8") if has_bf16 else ("openvino-int8",):
        pred = _predict(create_backend(path, "onnxruntime", precision=low, threads=1), io)
        assert np.all(np.isfinite(pred.box_cxcywh)) and 0.0 <= pred.score <= 1.0
        np.testing.assert_allclose(pred.box_cxcywh, ort.box_cxcywh, atol=0.25)
    with pytest.raises(ValueError, match="OpenVINO runs fp32, bf16 or int8"):
        OpenVinoBackend(tmp_path / "x.onnx", precision="fp16")
    with pytest.raises(RuntimeError, match="set_templates"):
        create_backend(path, "onnxruntime", precision="openvino-fp32", threads=1).predict(io["case0_search"])


def test_predict_before_templates_is_an_error(golden_small):
    path, io = golden_small
    with pytest.raises(RuntimeError, match="set_templates"):
        create_backend(path, "torch").predict(io["case0_search"])


@pytest.mark.skipif(CUDA, reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error(golden_small):
    path, _ = golden_small
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        create_backend(path, "torch", device="cuda")
    with pytest.raises(ValueError, match="fp16 needs device 'cuda'"):
        create_backend(path, "torch", precision="fp16")
    assert create_backend(path, "torch", device="auto").device.type == "cpu"


def test_wrong_combinations_are_clear_errors(golden_small, tmp_path):
    path, _ = golden_small
    with pytest.raises(ValueError, match="onnxruntime backend runs on the CPU"):
        create_backend(path, "onnxruntime", device="cuda")
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend(path, "tensorrt")
    with pytest.raises(FileNotFoundError):
        create_backend(tmp_path / "missing.onnx")


@pytest.mark.skipif(not CUDA, reason="needs CUDA (run scripts/gpu_check.sh on a GPU machine)")
@pytest.mark.parametrize("precision, cuda_graph, atol", [("fp32", False, 1e-4), ("fp16", False, 5e-3),
                                                        ("fp16", True, 5e-3)])
def test_cuda_paths_match_cpu(golden_small, precision, cuda_graph, atol):
    from mixformerv2_ros.model import load_checkpoint

    path, io = golden_small
    reference = _predict(TorchBackend(load_checkpoint(path)), io)
    gpu = TorchBackend(load_checkpoint(path), "cuda", precision, cuda_graph)
    for case in range(3):  # replays with new templates and searches reuse the captured graph
        _predict(gpu, io, case)
    np.testing.assert_allclose(_predict(gpu, io, 0).box_cxcywh, reference.box_cxcywh, atol=atol)
    gpu.close()


def test_thread_count_is_physical_cores_of_the_allowed_cpus(tmp_path):
    """SMT siblings count once; CPUs outside the affinity mask do not count at all."""
    import os

    from mixformerv2_ros.tracker.backends import physical_cores

    allowed = sorted(os.sched_getaffinity(0))

    def fake_sysfs(name, core_of):
        for cpu in range(max(allowed) + 3):  # a few CPUs this process may not use
            topology = tmp_path / name / f"cpu{cpu}" / "topology"
            topology.mkdir(parents=True)
            (topology / "physical_package_id").write_text("0\n")
            (topology / "core_id").write_text(f"{core_of(cpu)}\n")
        return tmp_path / name

    assert physical_cores(fake_sysfs("smt2", lambda cpu: cpu // 2)) == len({c // 2 for c in allowed})
    assert physical_cores(fake_sysfs("no_smt", lambda cpu: cpu)) == len(allowed)
    assert physical_cores(tmp_path / "absent") == len(allowed)


def test_cpu_description_tells_the_same_cpu_name_apart_by_its_vector_extensions(tmp_path):
    """The gate's verdict cache is keyed by it: one CPU name came with and without AVX-512/VNNI."""
    from mixformerv2_ros.tracker.backends import cpu_description

    wide, narrow = tmp_path / "wide", tmp_path / "narrow"
    wide.write_text("model name\t: AMD EPYC\nflags\t\t: fpu avx avx2 avx512f avx512_vnni avx512_bf16\n")
    narrow.write_text("model name\t: AMD EPYC\nflags\t\t: fpu avx avx2\n")
    assert cpu_description(wide) == "AMD EPYC (avx2 avx512f avx512_vnni avx512_bf16)"
    assert cpu_description(narrow) == "AMD EPYC (avx2)"
    assert cpu_description(tmp_path / "missing") == "CPU unknown"
