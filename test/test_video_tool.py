"""mixformerv2-video on an image folder and on a video file, its fallback writer and its errors."""

import cv2
import numpy as np
import pytest

from mixformerv2_ros.tools import video


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="module")
def model(golden_dir):
    return str(golden_dir / "mixformerv2_small_d1.pth.tar")


@pytest.fixture(scope="module")
def clip(uav_dev_dir):
    return uav_dev_dir / "person12_1"


def test_image_folder_gives_an_annotated_mp4(tmp_path, model, clip, capsys):
    out = tmp_path / "tracked.mp4"
    assert (
        video.main(
            [
                str(clip),
                "--box",
                "245,117.5,17,42.5",
                "--model",
                model,
                "--out",
                str(out),
                "--max-frames",
                "8",
            ]
        )
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out
    frames = read_video(out)
    assert len(frames) == 8 and frames[0].shape == (360, 640, 3)
    original = cv2.imread(str(clip / "img" / "00000001.jpg"))
    drawn = np.abs(frames[0].astype(int) - original).sum(axis=2) > 120
    # the init box outline (x 245..262, y 117.5..160) and the status text are drawn, little else
    assert drawn[117:161, 243:265].any() and drawn[5:30, 5:200].any()
    assert not drawn[200:, 400:].any()
    green = frames[0][140, 244]
    assert green[1] > 150 and green[0] < 100 and green[2] < 100


def test_video_file_start_frame_and_fallback_writer(tmp_path, model, clip):
    source = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (640, 360))
    for path in sorted((clip / "img").glob("*.jpg"))[:10]:
        writer.write(cv2.imread(str(path)))
    writer.release()
    out = tmp_path / "tracked.unknown"  # no container for this suffix: MJPG .avi instead
    assert (
        video.main(
            [
                str(source),
                "--box",
                "243,117,17.5,44.5",
                "--model",
                model,
                "--out",
                str(out),
                "--start-frame",
                "2",
                "--max-frames",
                "5",
            ]
        )
        == 0
    )
    assert not out.exists()
    written = read_video(out.with_suffix(".avi"))
    assert len(written) == 5
    capture = cv2.VideoCapture(str(out.with_suffix(".avi")))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    capture.release()


def test_errors_are_reported_clearly(tmp_path, model, clip, capsys):
    out = str(tmp_path / "x.mp4")
    assert video.main([str(tmp_path / "missing"), "--box", "1,2,3,4", "--model", model, "--out", out]) == 2
    assert "no such video file or image folder" in capsys.readouterr().err
    assert video.main([str(clip), "--box", "900,10,20,20", "--model", model, "--out", out]) == 2
    assert "wholly outside" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        video.main([str(clip), "--box", "1,2,3", "--model", model])
    assert exit_info.value.code == 2 and "x,y,w,h" in capsys.readouterr().err


def test_help_explains_the_output(capsys):
    with pytest.raises(SystemExit):
        video.main(["--help"])
    text = capsys.readouterr().out
    for word in ("--box", "mp4v", "Motion-JPEG", "green", "red", "--start-frame"):
        assert word in text
