"""Model soups (``training.soup``): the mean of legs' weights, refused where it would be meaningless,
exported as graphs the tracker runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mixformerv2_ros.model.config import ModelConfig
from mixformerv2_ros.training.model import DEMO_CONFIG, build_demo_model
from mixformerv2_ros.training.soup import uniform_soup

TINY = ModelConfig(**{**DEMO_CONFIG.__dict__, "embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 1.0,
                      "head_hidden_dim": 32, "template_size": 32, "search_size": 64})


def _legs(count: int):
    """``count`` tiny networks with one stem and otherwise different weights, as legs of one start."""
    states = []
    for seed in range(count):
        torch.manual_seed(seed)
        states.append(build_demo_model(TINY, pretrained=False).state_dict())
    stem = {k: v for k, v in states[0].items() if "stem" in k.split(".")}
    return [{**state, **stem} for state in states]


def test_the_soup_is_the_mean_of_each_parameter_and_keeps_the_prediction_tokens_sum():
    legs = _legs(3)
    soup = uniform_soup(legs)
    name = "box_head.layers.0.0.weight"
    assert torch.allclose(soup[name], (legs[0][name] + legs[1][name] + legs[2][name]) / 3, atol=1e-6)
    tokens = [leg["backbone.reg_tokens"] + leg["backbone.pos_embed_reg"] for leg in legs]
    assert torch.allclose(soup["backbone.reg_tokens"] + soup["backbone.pos_embed_reg"], sum(tokens) / 3, atol=1e-6)
    assert not torch.equal(soup[name], legs[0][name])


def test_a_soup_is_refused_where_it_would_mean_nothing():
    legs = _legs(2)
    with pytest.raises(ValueError, match="at least two"):
        uniform_soup(legs[:1])
    other_stem = dict(legs[1])
    stem_name = next(k for k in other_stem if "stem" in k.split(".") and torch.is_floating_point(other_stem[k]))
    other_stem[stem_name] = other_stem[stem_name] + 1
    with pytest.raises(ValueError, match="frozen stem differs"):
        uniform_soup([legs[0], other_stem])
    missing = {k: v for k, v in legs[1].items() if not k.startswith("score_head")}
    with pytest.raises(ValueError, match="other parameters"):
        uniform_soup([legs[0], missing])


def test_cli_soup_of_the_shipped_graphs_with_themselves_is_the_shipped_model(tmp_path):
    """Read back from the exported graphs, averaged with itself and exported again, the shipped
    model tracks as it did: the soup changes nothing that was not in the weights."""
    import cv2

    from mixformerv2_ros.model.config import demo_model_path
    from mixformerv2_ros.tracker import Tracker
    from mixformerv2_ros.training import soup

    out = tmp_path / "soup.onnx"
    assert soup.main(["--out", str(out), str(demo_model_path()), str(demo_model_path())]) == 0
    assert (tmp_path / "soup.templates.onnx").is_file()
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8), (0, 0), 3)
    cv2.rectangle(image, (300, 160), (340, 200), (20, 200, 240), -1)
    results = []
    for path in (demo_model_path(), out):
        tracker = Tracker.from_checkpoint(path)
        tracker.initialize(image, (300, 160, 40, 40))
        results.append(tracker.track(np.roll(image, (3, 5), axis=(0, 1))))
    assert np.allclose(results[0].box, results[1].box, atol=1e-3)
    assert results[0].score == pytest.approx(results[1].score, abs=1e-4)


def test_cli_refuses_an_output_that_is_not_onnx(tmp_path):
    from mixformerv2_ros.training import soup

    with pytest.raises(SystemExit, match="must name an .onnx file"):
        soup.main(["--out", str(tmp_path / "soup.pt"), "a.onnx", "b.onnx"])
