"""The network reproduces the official implementation's outputs (../shared/golden)."""

import numpy as np
import pytest
import torch

from mixformerv2_ros.model import load_checkpoint

VARIANTS = ("small", "base")


@pytest.fixture(scope="module", params=VARIANTS)
def golden(request, golden_dir):
    model = load_checkpoint(golden_dir / f"mixformerv2_{request.param}_d1.pth.tar")
    return request.param, model, np.load(golden_dir / f"mixformerv2_{request.param}_d1_io.npz")


def _inputs(io, case):
    return [torch.from_numpy(io[f"case{case}_{name}"]) for name in ("template", "online_template", "search")]


@pytest.mark.parametrize("case", range(3))
def test_outputs_match_official(golden, case):
    variant, model, io = golden
    with torch.no_grad():
        out = model(*_inputs(io, case))
    official_probs = np.stack([io[f"case{case}_prob_{side}"] for side in "ltrb"], axis=1)
    np.testing.assert_allclose(out["probs"].numpy(), official_probs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["boxes_cxcywh"].numpy(), io[f"case{case}_pred_boxes_cxcywh"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["score_logit"].numpy(), io[f"case{case}_score_logit"], rtol=0, atol=1e-4)


def test_config_is_inferred_from_the_checkpoint(golden):
    variant, model, io = golden
    cfg = model.config
    assert cfg.variant == variant
    assert (cfg.depth, cfg.mlp_ratio, cfg.bins) == (int(io["depth"]), float(io["mlp_ratio"]), int(io["feat_sz"]))
    assert (cfg.template_size, cfg.search_size) == (int(io["template_size"]), int(io["search_size"]))


def test_wrong_variant_is_a_clear_error(golden_dir):
    from mixformerv2_ros.model import CheckpointError

    with pytest.raises(CheckpointError, match="not a MixFormerV2-B"):
        load_checkpoint(golden_dir / "mixformerv2_small_d1.pth.tar", variant="base")
