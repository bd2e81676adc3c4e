"""Reading tracking sequences (benchmark folder layouts) and frame sources (videos, folders).

Layouts, detected from the folder given (``detect_layout``):

* ``uav_dev``: ``<seq>/img/*.jpg`` + ``<seq>/groundtruth.txt`` (or the root is one such sequence)
* ``lasot``: ``<class>/<seq>/img/*.jpg`` + ``groundtruth.txt``, ``full_occlusion.txt`` and
  ``out_of_view.txt`` (frames with either flag count as invisible)
* ``got10k``: ``<seq>/*.jpg`` + ``<seq>/groundtruth.txt``
* ``otb``: ``<seq>/img/*.jpg`` + ``<seq>/groundtruth_rect.txt`` (``groundtruth_rect.N.txt`` gives
  one sequence ``<seq>-N`` per target)
* ``uav123``: ``data_seq/UAV123/<folder>/*.jpg`` + ``anno/UAV123/<seq>.txt``; a sequence ``<folder>_k``
  is the k-th consecutive piece of its folder (pieces share their boundary frame, as in the
  benchmark's configuration, except the three pieces that start after a gap, listed below).

Ground-truth files hold one ``x, y, w, h`` box per frame, separated by commas, tabs or spaces;
``NaN`` marks frames without a box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

LAYOUTS = ("uav_dev", "lasot", "got10k", "otb", "uav123")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: UAV123 pieces that do not start on the last frame of the previous piece (benchmark config).
UAV123_PIECE_STARTS = {"bird1_2": 775, "bird1_3": 1573, "uav1_3": 2473}


@dataclass(frozen=True)
class Sequence:
    """Frames and ground truth of one sequence; ``visible`` is None when the layout has no flags.

    ``kind`` selects the benchmark's handling of frames without ground truth in ``metrics``.
    """

    name: str
    frames: tuple[Path, ...]
    ground_truth: np.ndarray
    visible: np.ndarray | None = None
    kind: str = ""


def read_boxes(path: Path) -> np.ndarray:
    """(N, 4) float64 boxes from a ground-truth text file (NaN where a frame has none)."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = [f for f in re.split(r"[,\s]+", line.strip()) if f]
        if not fields:
            continue
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected 4 values x,y,w,h, got {line!r}")
        try:
            rows.append([float(f) for f in fields])
        except ValueError as error:
            raise ValueError(f"{path}:{number}: not a number in {line!r}") from error
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _read_flags(path: Path) -> np.ndarray:
    text = Path(path).read_text().replace("\n", ",")
    return np.array([int(float(v)) for v in text.split(",") if v.strip()], dtype=bool)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def detect_layout(root: Path) -> str:
    """Name of the layout of ``root`` (see the module docstring); ValueError if none fits."""
    root = Path(root)
    if (root / "data_seq" / "UAV123").is_dir() and (root / "anno" / "UAV123").is_dir():
        return "uav123"
    if (root / "img").is_dir() and (root / "groundtruth.txt").is_file():
        return "uav_dev"
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir()] if root.is_dir() else []
    for seq in subdirs:
        if any(seq.glob("groundtruth_rect*.txt")) and (seq / "img").is_dir():
            return "otb"
        if (seq / "groundtruth.txt").is_file():
            return "uav_dev" if (seq / "img").is_dir() else "got10k"
        if any(
            (d / "groundtruth.txt").is_file() and (d / "img").is_dir() for d in seq.iterdir() if d.is_dir()
        ):
            return "lasot"
    raise ValueError(f"{root}: no known sequence layout found (expected one of {LAYOUTS}; see --help)")


def load_sequences(root: Path, layout: str | None = None, names=None) -> list[Sequence]:
    """Sequences under ``root`` (layout detected unless given), optionally only ``names``."""
    root = Path(root)
    layout = layout or detect_layout(root)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS}")
    sequences = {s.name: s for s in _LOADERS[layout](root)}
    if not sequences:
        raise ValueError(f"{root}: no sequences found for layout {layout!r}")
    if names:
        missing = [n for n in names if n not in sequences]
        if missing:
            raise ValueError(f"sequence(s) {missing} not found in {root}; available: {sorted(sequences)}")
        return [sequences[n] for n in names]
    return list(sequences.values())


def _uav_dev(root: Path):
    folders = [root] if (root / "groundtruth.txt").is_file() else sorted(root.iterdir())
    for seq in folders:
        if (seq / "img").is_dir() and (seq / "groundtruth.txt").is_file():
            yield Sequence(seq.name, tuple(_images(seq / "img")), read_boxes(seq / "groundtruth.txt"))


def _got10k(root: Path):
    for seq in sorted(root.iterdir()):
        if seq.is_dir() and (seq / "groundtruth.txt").is_file():
            yield Sequence(seq.name, tuple(_images(seq)), read_boxes(seq / "groundtruth.txt"), kind="got10k")


def _otb(root: Path):
    for seq in sorted(root.iterdir()):
        if not (seq.is_dir() and (seq / "img").is_dir()):
            continue
        frames = tuple(_images(seq / "img"))
        for anno in sorted(seq.glob("groundtruth_rect*.txt")):
            target = anno.name[len("groundtruth_rect") : -len(".txt")].strip(".")
            name = f"{seq.name}-{target}" if target else seq.name
            yield Sequence(name, frames, read_boxes(anno), kind="otb")


def _lasot(root: Path):
    for category in sorted(d for d in root.iterdir() if d.is_dir()):
        for seq in sorted(d for d in category.iterdir() if d.is_dir()):
            if not (seq / "groundtruth.txt").is_file():
                continue
            visible = None
            occlusion, out_of_view = seq / "full_occlusion.txt", seq / "out_of_view.txt"
            if occlusion.is_file() and out_of_view.is_file():
                visible = ~(_read_flags(occlusion) | _read_flags(out_of_view))
            yield Sequence(
                seq.name, tuple(_images(seq / "img")), read_boxes(seq / "groundtruth.txt"), visible, "lasot"
            )


def _uav123(root: Path):
    annos = {p.stem: read_boxes(p) for p in sorted((root / "anno" / "UAV123").glob("*.txt"))}
    data = root / "data_seq" / "UAV123"
    for name, boxes in annos.items():
        folder, start = data / name, 1
        piece = re.fullmatch(r"(.+)_(\d+)", name)
        if not folder.is_dir() and piece:
            base, index = piece.group(1), int(piece.group(2))
            folder = data / base
            start = _uav123_piece_start(annos, base, index)
        if folder.is_dir():
            frames = tuple(_images(folder)[start - 1 : start - 1 + len(boxes)])
            yield Sequence(name, frames, boxes, kind="uav")


def _uav123_piece_start(annos, base: str, index: int) -> int:
    """First frame (1-based) of piece ``index`` of ``base``: pieces share their boundary frame."""
    name = f"{base}_{index}"
    if name in UAV123_PIECE_STARTS:
        return UAV123_PIECE_STARTS[name]
    if index == 1:
        return 1
    return _uav123_piece_start(annos, base, index - 1) + len(annos[f"{base}_{index - 1}"]) - 1


_LOADERS = {"uav_dev": _uav_dev, "lasot": _lasot, "got10k": _got10k, "otb": _otb, "uav123": _uav123}


class FrameSource:
    """Frames of a video file or of an image folder (sorted by name), read one at a time from
    ``start_frame`` on. A clip folder with an ``img/`` subfolder (the uav_dev layout) reads that.

    One reader for the evaluation tools, ``mixformerv2-video`` and the ``video_publisher`` node.
    ``fps`` is the video's frame rate (``None`` for folders or when the file does not say).
    An image that cannot be decoded raises ValueError naming it: a replay must not end early or
    skip a frame without saying so.
    """

    def __init__(self, source, start_frame: int = 0):
        self.path = Path(source)
        if isinstance(start_frame, bool) or not isinstance(start_frame, int) or start_frame < 0:
            raise ValueError(f"start_frame must be an integer >= 0, got {start_frame!r}")
        self.start_frame = start_frame
        if self.path.is_dir():
            folder = self.path / "img" if (self.path / "img").is_dir() else self.path
            self._files = _images(folder)
            if not self._files:
                raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
            self.fps = None
            self._capture = None
        elif self.path.is_file():
            self._files = None
            self._capture = cv2.VideoCapture(str(self.path))
            if not self._capture.isOpened():
                raise ValueError(f"{self.path}: cannot be opened as a video")
            fps = self._capture.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps and fps > 0 else None
        else:
            raise ValueError(f"{self.path}: no such video file or image folder")
        self.rewind()

    def __len__(self) -> int:
        """Frames from ``start_frame`` to the end (a video's count is what its container says)."""
        total = len(self._files) if self._files is not None else int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return max(total - self.start_frame, 0)

    def read(self):
        """The next BGR frame, or None at the end."""
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        if self._files is not None:
            if self._index >= len(self._files):
                return None
            path = self._files[self._index]
            self._index += 1
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise ValueError(f"{path}: cannot be read as an image")
            return frame
        ok, frame = self._capture.read()
        return frame if ok else None

    def __iter__(self):
        """The frames from the current position to the end."""
        while (frame := self.read()) is not None:
            yield frame

    def rewind(self) -> None:
        """Back to ``start_frame``; ValueError if the source is shorter.

        A folder just moves its index. A video grabs (decodes without converting) the frames
        before it, because seeking in a compressed video lands on a key frame, not on the frame
        asked for; it then reads ``start_frame`` itself to check that the video reaches it, and
        ``read`` returns that frame first.
        """
        self._first = None
        if self._files is not None:
            if self.start_frame >= len(self._files):
                raise ValueError(f"start_frame {self.start_frame}: the source has only {len(self._files)} frames")
            self._index = self.start_frame
            return
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        for skipped in range(self.start_frame):
            if not self._capture.grab():
                raise ValueError(f"start_frame {self.start_frame}: the source has only {skipped} frames")
        ok, frame = self._capture.read()
        if not ok:
            raise ValueError(f"start_frame {self.start_frame}: the source has only {self.start_frame} frames")
        self._first = frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
