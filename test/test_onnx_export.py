"""The exported ONNX graphs reproduce PyTorch, and the runtime needs only the .onnx files."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
import torch

from mixformerv2_ros.model import export_onnx, load_checkpoint
from mixformerv2_ros.model.config import ModelConfig


@pytest.fixture(scope="module", params=["small", "base"])
def exported(request, golden_dir, tmp_path_factory):
    model = load_checkpoint(golden_dir / f"mixformerv2_{request.param}_d1.pth.tar")
    out = tmp_path_factory.mktemp(request.param) / "model.onnx"
    step, templates = export_onnx(model, out)
    return request.param, model, step, templates


def test_metadata_carries_the_config(exported):
    variant, model, step, templates = exported
    for path in (step, templates):
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert ModelConfig.from_metadata(meta) == model.config
    assert templates.name == "model.templates.onnx"


def test_onnxruntime_matches_pytorch_without_torch(exported, golden_dir):
    """ORT runs in a fresh process that never imports torch; its outputs match PyTorch."""
    variant, model, step, templates = exported
    io_path = golden_dir / f"mixformerv2_{variant}_d1_io.npz"
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from mixformerv2_ros.tracker.backends import OnnxRuntimeBackend
        io = np.load({str(io_path)!r})
        backend = OnnxRuntimeBackend({str(step)!r})
        out = []
        for i in range(3):
            backend.set_templates(io[f"case{{i}}_template"], io[f"case{{i}}_online_template"])
            p = backend.predict(io[f"case{{i}}_search"])
            out.append([p.box_cxcywh.tolist(), p.score_logit])
        assert "torch" not in sys.modules, "the ONNX Runtime path imported torch"
        print(json.dumps({{"out": out, "variant": backend.config.variant}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["variant"] == variant
    io = np.load(io_path)
    for i, (box, logit) in enumerate(got["out"]):
        args = [torch.from_numpy(io[f"case{i}_{k}"]) for k in ("template", "online_template", "search")]
        with torch.no_grad():
            ref = model(*args)
        np.testing.assert_allclose(box, ref["boxes_cxcywh"][0].numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(logit, ref["score_logit"][0].item(), rtol=0, atol=1e-4)


def test_probs_output_matches(exported, golden_dir):
    """The per-frame graph's full outputs (probs included) equal PyTorch's forward_cached."""
    import onnxruntime as ort

    variant, model, step, templates = exported
    io = np.load(golden_dir / f"mixformerv2_{variant}_d1_io.npz")
    cache = ort.InferenceSession(str(templates)).run(None, {
        "template": io["case2_template"], "online_template": io["case2_online_template"]})[0]
    feeds = {"template_cache": cache, "search": io["case2_search"]}
    boxes, logit, probs = ort.InferenceSession(str(step)).run(None, feeds)
    official = np.stack([io[f"case2_prob_{s}"] for s in "ltrb"], axis=1)
    np.testing.assert_allclose(probs, official, rtol=0, atol=1e-4)
    np.testing.assert_allclose(boxes, io["case2_pred_boxes_cxcywh"], rtol=0, atol=1e-4)


def test_export_command(golden_dir, tmp_path):
    from mixformerv2_ros.tools.export import main

    out = tmp_path / "cli" / "s.onnx"
    assert main([str(golden_dir / "mixformerv2_small_d1.pth.tar"), str(out)]) == 0
    assert out.is_file() and (tmp_path / "cli" / "s.templates.onnx").is_file()
    with pytest.raises(SystemExit):
        main(["--help"])
