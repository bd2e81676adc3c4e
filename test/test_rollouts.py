"""Train as you track (``training.rollouts``): the tracker's own runs are recorded as it cut its
crops, and training pairs cut from the records carry the truth where the tracker's crop shows it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mixformerv2_ros.tracker.crop import crop_window, map_box_back
from mixformerv2_ros.training.rollouts import record_rollouts, record_weights, truth_in_crop


def _record(window, truth, iou=0.8, state="tracking"):
    return {"clip": "c", "template": [0, [0, 0, 10, 10]], "online": [0, [0, 0, 10, 10]], "search": 1,
            "window": [window.x1, window.y1, window.side, list(window.center)],
            "truth": None if truth is None else list(truth), "iou": iou, "state": state, "score": 0.9}


def test_the_truth_is_mapped_into_the_crop_as_the_tracker_maps_its_prediction_back():
    """The label is the box that, predicted by the network, the tracker would map back onto the
    truth: off centre, in a crop scaled from a box too large, as after a drift."""
    window = crop_window((300.0, 200.0, 60.0, 50.0), 4.5)  # the tracker's box, too large and off
    truth = (322.5, 231.0, 21.0, 17.5)
    box = truth_in_crop(_record(window, truth), 224)
    assert box is not None
    cxcywh = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, box[2], box[3]]) / 224
    assert np.allclose(map_box_back(cxcywh, window), truth, atol=1e-3)


def test_a_truth_outside_the_crop_or_missing_makes_a_negative():
    window = crop_window((100.0, 100.0, 20.0, 20.0), 4.5)  # 90 px around (110, 110)
    assert truth_in_crop(_record(window, (400.0, 300.0, 20.0, 20.0)), 224) is None  # the tracker lost it
    assert truth_in_crop(_record(window, (150.0, 100.0, 20.0, 20.0)), 224) is None  # centre just outside
    assert truth_in_crop(_record(window, (140.0, 100.0, 20.0, 20.0)), 224) is not None  # centre just inside
    assert truth_in_crop(_record(window, None), 224) is None  # no annotation on that frame


def test_frames_where_the_tracker_was_off_are_drawn_more_often():
    window = crop_window((100.0, 100.0, 20.0, 20.0), 4.5)
    records = [_record(window, None, iou=0.9), _record(window, None, iou=0.2),
               _record(window, None, iou=0.9, state="lost")]
    p = record_weights(records)
    assert p.sum() == pytest.approx(1.0)
    assert p[1] == pytest.approx(3 * p[0]) and p[2] == pytest.approx(3 * p[0])


def test_a_rollout_records_the_windows_and_templates_the_tracker_used(shared_dir):
    """On a real clip with the shipped model: each start's first crop is cut around its init box,
    the online template is the first one until the tracker replaces it (every 25 frames), and
    afterwards comes from a frame it tracked before."""
    from mixformerv2_ros.model.config import demo_model_path
    from mixformerv2_ros.tracker import Tracker

    clip = shared_dir / "data" / "uav_dev" / "boat1"
    tracker = Tracker.from_checkpoint(demo_model_path())
    lines = []
    records = record_rollouts(tracker, [clip], start_fractions=(0.0, 0.5), length=40, log=lines.append)
    truth = np.loadtxt(clip / "groundtruth.txt", delimiter=",")
    starts = [r["template"][0] for r in records if r["search"] == r["template"][0] + 1]
    assert starts == [0, len(truth) // 2] and len(lines) == 2
    assert len(records) == 2 * 39
    factor = tracker.settings.search_factor
    for record in records:
        start, init_box = record["template"]
        frame, box = record["online"]
        if record["search"] == start + 1:
            expected = crop_window(init_box, factor)
            assert record["window"][:3] == [expected.x1, expected.y1, expected.side]
            assert record["truth"] == truth[record["search"]].tolist()
        if record["search"] <= start + 25:
            assert (frame, box) == (start, init_box), record
        else:
            assert start < frame <= start + 25, record
            assert all(np.isfinite(box)) and min(box[2:]) > 0
    assert np.allclose(records[0]["template"][1], truth[0])  # the first start is the annotation
    assert not np.allclose(records[-1]["template"][1], truth[len(truth) // 2])  # later ones, a user's box
    assert np.mean([r["iou"] for r in records]) > 0.5  # the shipped model follows the boat


def test_pairs_cut_from_rollouts_are_labelled_by_the_truth(shared_dir, tmp_path):
    from mixformerv2_ros.training.data import PairSynthesizer
    from mixformerv2_ros.training.model import DEMO_CONFIG

    clip = shared_dir / "data" / "uav_dev" / "boat1"
    truth = np.loadtxt(clip / "groundtruth.txt", delimiter=",")
    on_target = crop_window(truth[10], DEMO_CONFIG.search_factor)
    lost = crop_window((5.0, 5.0, 30.0, 30.0), DEMO_CONFIG.search_factor)
    records = [{**_record(w, truth[10]), "clip": str(clip), "template": [0, truth[0].tolist()],
                "online": [5, truth[5].tolist()], "search": 10} for w in (on_target, lost)]
    path = tmp_path / "rollouts.json"
    path.write_text(json.dumps(records))
    with pytest.raises(ValueError, match="needs rollouts"):
        PairSynthesizer(DEMO_CONFIG, [clip], rollout_share=0.5)
    synth = PairSynthesizer(DEMO_CONFIG, [clip], rollouts=path, rollout_share=1.0, seed=3)
    pairs = [synth.sample() for _ in range(12)]
    positives = [p for p in pairs if p.label == 1.0]
    assert 0 < len(positives) < len(pairs)  # both records are drawn; the lost one is a negative
    for pair in positives:  # the truth in a crop centred on it: at the centre, at its own scale
        assert np.allclose(pair.box_cxcywh[:2], 0.5, atol=0.01)
        side = np.sqrt(truth[10][2] * truth[10][3]) * DEMO_CONFIG.search_factor
        assert np.allclose(pair.box_cxcywh[2:], truth[10][2:] / side, rtol=0.05)
    for pair in pairs:
        assert pair.search.shape == (DEMO_CONFIG.search_size, DEMO_CONFIG.search_size, 3)
        assert pair.template.shape == (DEMO_CONFIG.template_size, DEMO_CONFIG.template_size, 3)


def test_cli_records_the_training_clips(shared_dir, tmp_path):
    from mixformerv2_ros.training import rollouts

    out = tmp_path / "rollouts.json"
    assert rollouts.main(["--data", str(shared_dir / "data"), "--train-clips", "building4", "--heldout-clips", "",
                          "--length", "4", "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert len(records) == 5 * 3  # five starts, three tracked frames each
    assert {r["clip"].rsplit("/", 1)[-1] for r in records} == {"building4"}
