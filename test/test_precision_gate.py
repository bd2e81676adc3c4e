"""precision: auto: low precision is judged by what it does to tracking on the shipped gate clip.

The golden random-weight model is the negative case (its rounding-magnified boxes drift: the gate
must refuse every low-precision path and run fp32, saying why); for the shipped model every path
is measured and the rule decides. Verdicts are cached.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mixformerv2_ros.model.config import demo_model_path
from mixformerv2_ros.tracker import precision
from mixformerv2_ros.tracker.backends import create_backend


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """Exports, quantised graphs and verdicts go to an empty cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mixformerv2_ros"


def test_gate_clip_ships_with_the_package():
    frames = precision.read_gate_clip()
    assert len(frames) == 33 and frames[0].shape == (360, 640, 3) and frames[0].dtype == np.uint8
    x, y, w, h = precision.GATE_INIT_BOX
    assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 360


def test_a_verdict_is_cached_per_gate_tracker_settings(fresh_cache, monkeypatch):
    """The gate tracks with the tracker's defaults; when they change (the online-template interval
    went from 200 to 25), a verdict measured with the old ones must not be reused."""
    model = demo_model_path()
    key = precision._cache_file(model, 1)
    assert precision._cache_file(model, 1) == key and precision._cache_file(model, 2) != key
    monkeypatch.setattr(precision, "GATE_SETTINGS", precision.GATE_SETTINGS.replace(update_interval=200))
    assert precision._cache_file(model, 1) != key


def test_judge_refuses_a_drifting_track_and_says_why():
    reference = ([(10.0, 10.0, 20.0, 20.0)] * 10, np.full(10, 0.9))
    same = ([(10.5, 10.0, 20.0, 20.0)] * 10, np.full(10, 0.89))
    assert precision.judge("int8", reference, same, 1.0).passed
    drifted = ([(10.0, 10.0, 20.0, 20.0)] * 5 + [(40.0, 40.0, 20.0, 20.0)] * 5, np.full(10, 0.9))
    report = precision.judge("int8", reference, drifted, 1.0)
    assert not report.passed and "median IoU" in report.reason
    unsure = ([(10.0, 10.0, 20.0, 20.0)] * 10, np.full(10, 0.7))
    report = precision.judge("int8", reference, unsure, 1.0)
    assert not report.passed and "score difference 0.200" in report.reason


def test_auto_falls_back_to_fp32_for_the_random_weight_model(golden_dir, fresh_cache, caplog):
    logger = logging.getLogger("gate")
    with caplog.at_level(logging.INFO, logger="gate"):
        backend = create_backend(golden_dir / "mixformerv2_small_d1.pth.tar", precision="auto", threads=1,
                                 log=logger.info)
    choice = backend.precision_choice
    # fp32 runs: in ONNX Runtime, or in OpenVINO's fp32 kernels where they track identically and are faster
    assert backend.precision == choice.precision in precision.FP32_PATHS and not choice.cached
    low = {r.precision: r for r in choice.reports if r.precision not in precision.FP32_PATHS}
    assert set(low) == set(precision.CANDIDATES) - set(precision.FP32_PATHS)
    assert not any(r.passed for r in low.values())
    assert all("drifts from fp32" in r.reason or "could not be built" in r.reason for r in low.values())
    assert "trying int8" in caplog.text and "refused" in choice.summary()
    # the verdict is cached: a second load measures nothing
    again = create_backend(golden_dir / "mixformerv2_small_d1.pth.tar", precision="auto", threads=1)
    assert again.precision_choice.cached and again.precision_choice.reports == choice.reports
    assert list((fresh_cache / "precision_gate").glob("*.json"))


def test_auto_for_the_shipped_model_measures_every_path_and_follows_its_rule(fresh_cache):
    """Every candidate is built, tracked and timed, and the choice is the rule's: the fastest path
    that passed, if it beats fp32 by MIN_SPEEDUP, else fp32. (Which path that is depends on the
    model and the CPU: for the shipped model both int8 paths drift on the gate clip here, so it
    runs fp32; README, "Precision".)"""
    backend = create_backend(demo_model_path(), precision="auto", threads=1)
    choice = backend.precision_choice
    reports = {r.precision: r for r in choice.reports}
    assert set(reports) == set(precision.PRECISIONS)
    assert all(r.step_ms > 0 if r.step_ms is not None else "could not be built" in r.reason for r in choice.reports)
    assert all(0 <= r.median_iou <= 1 and r.reason for r in choice.reports[1:])
    passed = [r for r in choice.reports[1:] if r.passed]
    fastest = min(passed, key=lambda r: r.step_ms, default=None)
    expected = fastest.precision if fastest and reports["fp32"].step_ms >= precision.MIN_SPEEDUP * fastest.step_ms \
        else "fp32"
    assert choice.precision == backend.precision == expected, choice.summary()
    assert backend.config.search_size == 224  # a quantised graph keeps the model's metadata
