"""Benchmark measures, sequence layouts and the mixformerv2-eval tool end to end."""

import json

import cv2
import numpy as np
import pytest

from mixformerv2_ros.tools import evaluate, metrics
from mixformerv2_ros.tools.datasets import FrameSource, detect_layout, load_sequences, read_boxes


def test_iou_and_centre_errors():
    gt = np.array([[10.0, 10.0, 20.0, 10.0]] * 3)
    pred = np.array([[10.0, 10.0, 20.0, 10.0], [20.0, 10.0, 20.0, 10.0], [50.0, 50.0, 5.0, 5.0]])
    np.testing.assert_allclose(metrics.iou(pred, gt), [1.0, 1 / 3, 0.0])
    np.testing.assert_allclose(metrics.center_error(pred, gt), [0.0, 10.0, np.hypot(32.5, 37.5)])
    np.testing.assert_allclose(metrics.center_error(pred, gt, normalized=True)[1], 0.5)


def test_perfect_tracking_scores_one_except_at_iou_threshold_one():
    gt = np.random.default_rng(0).uniform(5, 50, (30, 4))
    result = metrics.scores(metrics.curves(metrics.frame_errors(gt, gt)))
    assert result["precision"] == result["norm_precision"] == 1.0
    assert result["auc"] == pytest.approx(20 / 21)  # IoU > 1 never holds


def test_frames_without_ground_truth_follow_the_benchmark_rules():
    gt = np.array([[10.0, 10.0, 20.0, 20.0], [np.nan] * 4, [10.0, 10.0, 0.0, 20.0], [10.0, 10.0, 20.0, 20.0]])
    pred = np.array([[10.0, 10.0, 20.0, 20.0]] * 4)
    uav = metrics.frame_errors(pred, gt, dataset="uav")
    assert uav["valid"].tolist() == [True, False, False, True]
    assert (uav["overlap"][1:3] == -1).all() and (uav["center"][1:3] == -1).all()
    other = metrics.frame_errors(pred, gt)
    assert np.isinf(other["center"][1:3]).all() and (other["norm_center"][1:3] == -1).all()
    curve = metrics.curves(uav)
    assert curve["success"][0] == pytest.approx(0.5)  # invalid frames never succeed on IoU
    assert curve["precision"][20] == 1.0  # ... but do on UAV's centre error
    lasot = metrics.frame_errors(pred, gt[[0, 3, 3, 3]], visible=[True, False, True, True], dataset="lasot")
    assert lasot["overlap"][1] == -1 and np.isinf(lasot["center"][1]) and np.isinf(lasot["norm_center"][1])


def test_the_size_ratio_tells_a_wrong_size_from_a_wrong_place():
    gt = np.array([[10.0, 10.0, 20.0, 10.0]] * 4 + [[np.nan] * 4])
    doubled = np.array([[10.0, 10.0, 20.0, 10.0]] + [[5.0, 5.0, 40.0, 20.0]] * 3 + [[0.0, 0.0, 1.0, 1.0]])
    moved = np.array([[10.0, 10.0, 20.0, 10.0]] + [[300.0, 300.0, 20.0, 10.0]] * 4)
    twice = metrics.frame_errors(doubled, gt)
    assert metrics.run_size_ratio(twice) == pytest.approx(2.0)  # frame 0 and the frame without gt left out
    far = metrics.frame_errors(moved, gt)
    assert metrics.run_size_ratio(far) == pytest.approx(1.0)  # right size, wrong place: AUC alone says "lost"
    assert metrics.scores(metrics.curves(far))["auc"] < 0.3
    assert metrics.mean_size_ratio([2.0, 0.5, None]) == pytest.approx(1.0)
    assert metrics.size_factor([2.0, 0.5, None]) == pytest.approx(2.0)  # ... but each run is off twofold
    assert metrics.run_size_ratio(metrics.frame_errors(gt[:1], gt[:1])) is None  # a run of the first frame only


def test_the_box_fit_measures_width_and_height_on_the_frames_on_target_only():
    gt = np.array([[100.0, 100.0, 20.0, 40.0]] * 7 + [[np.nan] * 4])
    pred = np.array([
        [90.0, 90.0, 60.0, 60.0],     # frame 0: the given box, left out whatever it says
        [101.0, 100.0, 18.0, 40.0],   # on target, 10 % too narrow
        [101.0, 102.0, 18.0, 36.0],   # on target, 10 % too narrow and 10 % too short
        [101.0, 100.0, 18.0, 40.0],
        [400.0, 400.0, 200.0, 400.0],  # on the background (IoU 0): its size says nothing of the fit
        [0.0, 0.0, 0.0, 0.0],          # no box: scores the previous frame's overlap, has no fit
        [101.0, 100.0, 18.0, 40.0],
        [101.0, 100.0, 18.0, 40.0],    # no ground truth
    ])
    errors = metrics.frame_errors(pred, gt)
    width, height = metrics.fit_log_ratios(pred, gt, errors["overlap"])
    assert len(width) == len(height) == 4
    fit = metrics.box_fit([(pred, gt, errors["overlap"])])
    assert fit["width_fit"] == pytest.approx(0.9) and fit["height_fit"] == pytest.approx(1.0)
    # the size ratio mixes width and height (sqrt of the area ratio) and counts every frame
    assert metrics.run_size_ratio(errors) == pytest.approx(np.sqrt(0.9))
    # over runs the median is over their frames on target together, not a mean of the runs' medians
    wide = np.array([pred[0]] + [[100.0, 100.0, 30.0, 40.0]] * 7)
    fit = metrics.box_fit([(pred, gt, errors["overlap"]), (wide, gt, metrics.frame_errors(wide, gt)["overlap"])])
    # 4 frames on target at 0.9, 6 at 1.5: 1.5 (the runs' medians' geometric mean would be 1.16)
    assert fit["width_fit"] == pytest.approx(1.5)
    assert metrics.box_fit([(gt[:1], gt[:1], [1.0])]) == {"width_fit": None, "height_fit": None}


def test_zero_size_predictions_take_the_previous_box_and_short_runs_are_padded():
    gt = np.array([[10.0, 10.0, 20.0, 20.0]] * 4)
    pred = np.array([[10.0, 10.0, 20.0, 20.0], [12.0, 10.0, 20.0, 20.0], [0.0, 0.0, 0.0, 0.0]])
    errors = metrics.frame_errors(pred, gt)
    assert errors["overlap"][2] == errors["overlap"][1] > 0
    assert errors["overlap"][3] == 0


def _write_frames(folder, count, suffix=".jpg", digits=8):
    folder.mkdir(parents=True, exist_ok=True)
    image = np.zeros((8, 8, 3), np.uint8)
    for i in range(1, count + 1):
        cv2.imwrite(str(folder / f"{i:0{digits}d}{suffix}"), image)


def _write_boxes(path, count, separator=","):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(separator.join(str(v) for v in (i, 2, 3, 4)) for i in range(count)) + "\n")


def test_every_layout_is_detected_and_loaded(tmp_path):
    _write_frames(tmp_path / "plain" / "seqA" / "img", 3)
    _write_boxes(tmp_path / "plain" / "seqA" / "groundtruth.txt", 3)
    _write_frames(tmp_path / "got" / "GOT-10k_Val_000001", 4)
    _write_boxes(tmp_path / "got" / "GOT-10k_Val_000001" / "groundtruth.txt", 4)
    _write_frames(tmp_path / "otb" / "Jogging" / "img", 3, digits=4)
    _write_boxes(tmp_path / "otb" / "Jogging" / "groundtruth_rect.1.txt", 3, separator="\t")
    _write_boxes(tmp_path / "otb" / "Jogging" / "groundtruth_rect.2.txt", 3, separator=" ")
    lasot_seq = tmp_path / "lasot" / "cat" / "cat-1"
    _write_frames(lasot_seq / "img", 4)
    _write_boxes(lasot_seq / "groundtruth.txt", 4)
    (lasot_seq / "full_occlusion.txt").write_text("0,1,0,0")
    (lasot_seq / "out_of_view.txt").write_text("0,0,0,1")
    _write_frames(tmp_path / "uav" / "data_seq" / "UAV123" / "car1", 10, digits=6)
    _write_frames(tmp_path / "uav" / "data_seq" / "UAV123" / "bike1", 2, digits=6)
    for name, count in (("car1_1", 4), ("car1_2", 5), ("bike1", 2)):
        _write_boxes(tmp_path / "uav" / "anno" / "UAV123" / f"{name}.txt", count)

    expected = {"plain": "uav_dev", "got": "got10k", "otb": "otb", "lasot": "lasot", "uav": "uav123"}
    for folder, layout in expected.items():
        assert detect_layout(tmp_path / folder) == layout
    assert detect_layout(tmp_path / "plain" / "seqA") == "uav_dev"

    (plain,) = load_sequences(tmp_path / "plain")
    assert plain.name == "seqA" and len(plain.frames) == 3 and plain.ground_truth.shape == (3, 4)
    assert [s.name for s in load_sequences(tmp_path / "otb")] == ["Jogging-1", "Jogging-2"]
    (lasot,) = load_sequences(tmp_path / "lasot")
    assert lasot.visible.tolist() == [True, False, True, False] and lasot.kind == "lasot"
    (got,) = load_sequences(tmp_path / "got")
    assert len(got.frames) == 4
    uav = {s.name: s for s in load_sequences(tmp_path / "uav")}
    # the second piece starts on the first piece's last frame, as in the benchmark
    assert [p.name for p in uav["car1_2"].frames] == [f"{i:06d}.jpg" for i in range(4, 9)]
    assert len(uav["car1_1"].frames) == 4 and len(uav["bike1"].frames) == 2
    assert [s.name for s in load_sequences(tmp_path / "uav", names=["bike1"])] == ["bike1"]
    with pytest.raises(ValueError, match="not found"):
        load_sequences(tmp_path / "uav", names=["nope"])
    with pytest.raises(ValueError, match="no known sequence layout"):
        detect_layout(tmp_path / "got" / "GOT-10k_Val_000001")


def test_ground_truth_files_with_nan_and_bad_lines(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\nNaN,NaN,NaN,NaN\n\n5\t6\t7\t8\n")
    boxes = read_boxes(path)
    assert boxes.shape == (3, 4) and np.isnan(boxes[1]).all() and boxes[2].tolist() == [5, 6, 7, 8]
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="expected 4 values"):
        read_boxes(path)


def test_help_explains_the_layouts_and_measures(capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("lasot", "got10k", "otb", "uav123", "--baseline", "--nano-dir", "--max-frames", "AUC",
                 "normalised precision"):
        assert word in text


def test_eval_reports_unusable_input_clearly(tmp_path, golden_dir, uav_dev_dir, capsys):
    model = str(golden_dir / "mixformerv2_small_d1.pth.tar")
    assert evaluate.main([str(tmp_path), "--model", model, "--out", str(tmp_path / "out")]) == 2
    assert "no known sequence layout" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main([str(tmp_path), "--model", model, "--set", "lost_threshold=2"])
    assert "lost_threshold" in capsys.readouterr().err
    assert evaluate.main([str(uav_dev_dir), "--model", model, "--baseline", "nano", "--nano-dir", str(tmp_path)]) == 2
    assert "nanotrack_backbone_sim.onnx" in capsys.readouterr().err


def test_sequences_come_from_several_folders_and_unknown_names_are_refused(tmp_path, uav_dev_dir, shared_dir,
                                                                           capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "person12_1").symlink_to(uav_dev_dir / "person12_1")
    model = str(shared_dir / "golden" / "mixformerv2_small_d1.pth.tar")
    argv = [str(uav_dev_dir), str(other), "--model", model, "--out", str(tmp_path / "out"), "--max-frames", "3"]
    assert evaluate.main(argv) == 2
    assert "person12_1 is in more than one data folder" in capsys.readouterr().err
    (other / "person12_1").unlink()
    (other / "copy_of_car").symlink_to(uav_dev_dir / "car16_1")
    assert evaluate.main(argv + ["--sequences", "car16_1,copy_of_car,nope"]) == 2
    assert "['nope'] not found" in capsys.readouterr().err
    assert evaluate.main(argv + ["--sequences", "copy_of_car,car16_1"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(summary["mixformerv2"]["per_sequence"]) == ["copy_of_car", "car16_1"]


def test_eval_on_real_clips_writes_consistent_results(tmp_path, uav_dev_dir, golden_dir, capsys):
    csrt_available = hasattr(cv2, "TrackerCSRT_create") or hasattr(cv2, "TrackerCSRT")
    argv = [
        str(uav_dev_dir),
        "--model",
        str(golden_dir / "mixformerv2_small_d1.pth.tar"),
        "--sequences",
        "person12_1,car16_1",
        "--max-frames",
        "12",
        "--out",
        str(tmp_path),
        "--baseline",
        "nano",
        "--baseline",
        "csrt",
    ]
    code = evaluate.main(argv)
    if not csrt_available:
        assert code == 2 and "opencv-contrib-python-headless" in capsys.readouterr().err
        code = evaluate.main(argv[:-2])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    trackers = ["mixformerv2", "nanotrack", "csrt"] if csrt_available else ["mixformerv2", "nanotrack"]
    # NanoTrack really tracks these first frames (the golden MixFormerV2 has random weights)
    assert summary["nanotrack"]["measures"]["auc"] > 0.4
    assert sorted(summary) == sorted(trackers)
    for name in trackers:
        assert summary[name]["sequences"] == 2 and summary[name]["frames"] == 24
        for sequence in ("person12_1", "car16_1"):
            result = json.loads((tmp_path / name / f"{sequence}.json").read_text())
            assert len(result["boxes"]) == len(result["states"]) == 12 and len(result["step_ms"]) == 11
            recomputed = metrics.scores(
                metrics.curves(metrics.frame_errors(result["boxes"], result["ground_truth"]))
            )
            for key, value in recomputed.items():
                assert result["measures"][key] == pytest.approx(value)
                assert summary[name]["per_sequence"][sequence][key] == pytest.approx(value)
            assert result["measures"]["fps"] == pytest.approx(1000 / np.mean(result["step_ms"]))
            errors = metrics.frame_errors(result["boxes"], result["ground_truth"])
            assert result["measures"]["size_ratio"] == pytest.approx(metrics.run_size_ratio(errors))
            fit = metrics.box_fit([(result["boxes"], result["ground_truth"], errors["overlap"])])
            for key in ("width_fit", "height_fit"):
                assert result["measures"][key] == pytest.approx(fit[key])
    plot = cv2.imread(str(tmp_path / "success_plot.png"))
    assert plot is not None and plot.std() > 0
    table = capsys.readouterr().out
    assert "person12_1" in table and "ALL" in table
    for name in trackers:
        runs = [summary[name]["per_sequence"][q]["size_ratio"] for q in ("person12_1", "car16_1")]
        assert summary[name]["measures"]["size_ratio"] == pytest.approx(metrics.mean_size_ratio(runs))
        factor = summary[name]["measures"]["size_factor"]
        assert factor == pytest.approx(metrics.size_factor(runs)) and factor >= 1.0
        results = [json.loads((tmp_path / name / f"{q}.json").read_text()) for q in ("person12_1", "car16_1")]
        fit = metrics.box_fit([(r["boxes"], r["ground_truth"], r["iou"]) for r in results])
        assert summary[name]["measures"]["width_fit"] == pytest.approx(fit["width_fit"])


def test_restarts_begin_at_even_fractions_on_the_next_usable_box():
    from pathlib import Path

    from mixformerv2_ros.tools.datasets import Sequence

    gt = np.tile([10.0, 10.0, 20.0, 20.0], (30, 1))
    gt[10:12] = np.nan  # the start at 1/3 (frame 10) moves on to frame 12
    gt[27, 2] = 0.0
    sequence = Sequence("clip", tuple(Path(f"{i:03d}.jpg") for i in range(30)), gt)
    assert evaluate.start_frames(sequence, 1) == [0]
    assert evaluate.start_frames(sequence, 3) == [0, 12, 20]
    # a start with fewer than MIN_RUN_FRAMES frames left is dropped: 30 * 5 / 6 = 25 leaves 5
    assert evaluate.start_frames(sequence, 6) == [0, 5, 12, 15, 20]
    # a restart skips frames where the target is marked invisible (LaSOT's occlusion flags)
    visible = np.ones(30, dtype=bool)
    visible[12:14] = False
    assert evaluate.start_frames(Sequence("clip", sequence.frames, gt, visible), 3) == [0, 14, 20]


def test_eval_with_restarts_runs_each_start_as_a_sequence(tmp_path, uav_dev_dir):
    from mixformerv2_ros.model.config import demo_model_path

    out = tmp_path / "out"
    argv = [str(uav_dev_dir), "--model", str(demo_model_path()), "--sequences", "car16_1", "--max-frames", "8",
            "--starts", "3", "--out", str(out), "--baseline", "nano"]
    assert evaluate.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    sequence = next(s for s in load_sequences(uav_dev_dir) if s.name == "car16_1")
    starts = evaluate.start_frames(sequence, 3)
    names = ["car16_1"] + [f"car16_1@{s}" for s in starts[1:]]
    assert len(starts) == 3 and starts[1] > 0
    for tracker in ("mixformerv2", "nanotrack"):
        assert list(summary[tracker]["per_sequence"]) == names and summary[tracker]["frames"] == 24
        for name, start in zip(names, starts):
            result = json.loads((out / tracker / f"{name}.json").read_text())
            assert result["start_frame"] == start and len(result["boxes"]) == 8
            # each run starts on the ground truth of its own first frame
            assert result["boxes"][0] == result["ground_truth"][0] == sequence.ground_truth[start].tolist()
    with pytest.raises(SystemExit):
        evaluate.main([str(uav_dev_dir), "--model", argv[2], "--starts", "0"])


def _numbered(i):
    frame = np.full((32, 48, 3), 30 * i, np.uint8)
    cv2.putText(frame, str(i), (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return frame


def test_frame_source_reads_a_clip_folder_from_start_frame_and_rewinds_there(tmp_path):
    images = tmp_path / "clip" / "img"  # the uav_dev layout: the clip folder holds img/
    images.mkdir(parents=True)
    for i in range(5):
        cv2.imwrite(str(images / f"{i:08d}.png"), _numbered(i))
    source = FrameSource(tmp_path / "clip", start_frame=2)
    assert len(source) == 3 and source.fps is None
    first = [source.read() for _ in range(4)]
    assert [f is None for f in first] == [False, False, False, True]
    for frame, i in zip(first, (2, 3, 4)):
        np.testing.assert_array_equal(frame, _numbered(i))
    source.rewind()
    np.testing.assert_array_equal(next(iter(source)), _numbered(2))
    with pytest.raises(ValueError, match="start_frame 5: the source has only 5 frames"):
        FrameSource(images, start_frame=5)
    with pytest.raises(ValueError, match="start_frame must be an integer >= 0"):
        FrameSource(images, start_frame=-1)
    with pytest.raises(ValueError, match="no such video file or image folder"):
        FrameSource(tmp_path / "missing")


def test_frame_source_names_an_image_it_cannot_decode(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), _numbered(0))
    (tmp_path / "b.png").write_bytes(b"not an image")
    source = FrameSource(tmp_path)
    assert source.read() is not None
    with pytest.raises(ValueError, match=r"b\.png: cannot be read as an image"):
        source.read()
    assert source.read() is None  # the bad file was passed over, not retried


def test_frame_source_starts_a_video_at_the_exact_frame(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (48, 32))
    for i in range(6):
        writer.write(_numbered(i))
    writer.release()
    capture = cv2.VideoCapture(str(path))
    decoded = [capture.read()[1] for _ in range(6)]
    source = FrameSource(path, start_frame=4)
    assert source.fps == pytest.approx(12.0) and len(source) == 2
    frames = list(source)
    assert len(frames) == 2
    np.testing.assert_array_equal(frames[0], decoded[4])
    np.testing.assert_array_equal(frames[1], decoded[5])
    source.rewind()
    np.testing.assert_array_equal(source.read(), decoded[4])
    source.close()
    with pytest.raises(ValueError, match="start_frame 6: the source has only 6 frames"):
        FrameSource(path, start_frame=6)
