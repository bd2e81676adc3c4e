"""Crops, normalisation and box mapping against an independent re-implementation of the official
preprocessing (pad the whole square with zeros, then cv2.resize)."""

import math
import tracemalloc

import cv2
import numpy as np
import pytest

from mixformerv2_ros.tracker.crop import (
    PADDED_SQUARE_LIMIT,
    CropExtractor,
    FrameSampler,
    Normalizer,
    clip_box,
    crop_window,
    map_box_back,
)

extract_crop = CropExtractor()

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def official_crop(image, box, factor, output_size):
    """The official sample_target: full zero-padded square (its padding arithmetic included)."""
    x, y, w, h = box
    side = math.ceil(math.sqrt(w * h) * factor)
    x1 = int(round(x + 0.5 * w - side * 0.5))
    y1 = int(round(y + 0.5 * h - side * 0.5))
    x2, y2 = x1 + side, y1 + side
    pad_left, pad_top = max(0, -x1), max(0, -y1)
    pad_right = max(x2 - image.shape[1] + 1, 0)
    pad_bottom = max(y2 - image.shape[0] + 1, 0)
    inside = image[y1 + pad_top : y2 - pad_bottom, x1 + pad_left : x2 - pad_right]
    padded = cv2.copyMakeBorder(inside, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_CONSTANT)
    return cv2.resize(padded, (output_size, output_size))


@pytest.fixture(scope="module")
def clip_frames(uav_dev_dir):
    frames = {}
    for clip in ("boat1", "person12_1", "car16_1"):
        gt = np.loadtxt(uav_dev_dir / clip / "groundtruth.txt", delimiter=",")
        images = sorted((uav_dev_dir / clip / "img").glob("*.jpg"))[:6]
        frames[clip] = [(cv2.imread(str(p)), gt[i]) for i, p in enumerate(images)]
    return frames


def _boxes_around(box, height, width, rng):
    """The gt box, jittered copies, and copies pushed against every frame edge."""
    x, y, w, h = box
    yield tuple(box)
    for _ in range(3):
        yield (
            x + rng.normal(0, 8),
            y + rng.normal(0, 8),
            w * rng.uniform(0.7, 1.4),
            h * rng.uniform(0.7, 1.4),
        )
    for edge_x in (-0.4 * w, width - 0.6 * w, x):
        for edge_y in (-0.4 * h, height - 0.6 * h, y):
            yield (edge_x, edge_y, w, h)


# (factor, output size): search and template crops of S (224/112) and B (288/128), and wide
# factors that give squares many times the output (sampled from the frame).
CROP_CASES = [(4.5, 224), (2.0, 112), (4.5, 288), (2.0, 128), (12.0, 224), (30.0, 288), (60.0, 112)]


def test_crops_equal_the_official_crop_exactly(clip_frames):
    rng = np.random.default_rng(0)
    paths = {"upsampled": 0, "padded and shrunk": 0, "sampled": 0}
    for frames in clip_frames.values():
        for image, gt in frames:
            for box in _boxes_around(gt, *image.shape[:2], rng):
                for factor, size in CROP_CASES:
                    window = crop_window(box, factor)
                    expected = official_crop(image, box, factor, size)
                    np.testing.assert_array_equal(extract_crop(image, window, size), expected)
                    if window.side <= size:
                        paths["upsampled"] += 1
                    elif window.side <= PADDED_SQUARE_LIMIT * size:
                        paths["padded and shrunk"] += 1
                    else:
                        paths["sampled"] += 1
    assert min(paths.values()) > 50, paths


def test_frame_sampler_reproduces_cv2_resize_for_every_shrink_factor():
    """Noise images (the hardest case for rounding) and squares from 1x to 20x the output."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    compared = 0
    for size in (112, 128, 224, 288):
        sampler = FrameSampler(size)
        for side in sorted(
            {size + 1, 2 * size, 2 * size + 1, *rng.integers(size + 1, 20 * size, 12).tolist()}
        ):
            box = (rng.uniform(-side / 3, 640), rng.uniform(-side / 3, 360), side / 2.0, side / 2.0)
            window = crop_window(box, 2.0)
            assert window.side == side
            np.testing.assert_array_equal(
                sampler(image[:-1, :-1], window), official_crop(image, box, 2.0, size)
            )
            compared += 1
    assert compared >= 50


def test_last_row_and_column_become_padding_when_the_crop_reaches_them():
    image = np.full((40, 60, 3), 200, np.uint8)
    crop = extract_crop(image, crop_window((50, 30, 10, 10), 1.0), 10)
    assert (crop[:-1, :-1] == 200).all()
    assert (crop[-1] == 0).all() and (crop[:, -1] == 0).all()
    inner = extract_crop(image, crop_window((40, 20, 10, 10), 1.0), 10)
    assert (inner == 200).all()


def test_big_targets_do_not_allocate_a_full_resolution_crop():
    image = np.random.default_rng(2).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    window = crop_window((1000, 800, 2000, 1500), 4.5)
    assert window.side > 7000  # a padded square would need > 150 MB
    extract_crop(image, window, 288)  # work buffers are allocated once, on first use
    tracemalloc.start()
    try:
        crop = extract_crop(image, window, 288)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert crop.shape == (288, 288, 3)
    assert peak < 2 * crop.nbytes


def test_crops_of_frames_smaller_than_the_margin_are_zero_padded():
    for shape in ((1, 1, 3), (5, 3, 3)):
        image = np.full(shape, 90, np.uint8)
        for factor, size in ((2.0, 112), (200.0, 112)):
            crop = extract_crop(image, crop_window((0, 0, shape[1], shape[0]), factor), size)
            assert crop.shape == (size, size, 3) and crop.dtype == np.uint8


def test_normalizer_matches_float32_imagenet_normalisation_and_swaps_bgr():
    crop = np.random.default_rng(3).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    normalize = Normalizer(IMAGENET_MEAN, IMAGENET_STD)
    mean = np.array(IMAGENET_MEAN, np.float32)
    std = np.array(IMAGENET_STD, np.float32)
    rgb = crop[..., ::-1].astype(np.float32)
    expected = ((rgb / np.float32(255.0) - mean) / std).transpose(2, 0, 1)[None]
    from_bgr = normalize(crop, bgr=True)
    assert from_bgr.dtype == np.float32 and from_bgr.shape == (1, 3, 17, 23)
    np.testing.assert_array_equal(from_bgr, expected)
    np.testing.assert_array_equal(normalize(np.ascontiguousarray(crop[..., ::-1]), bgr=False), expected)


def test_map_box_back_is_relative_to_the_prior_centre_and_crop_side():
    window = crop_window((100.0, 50.0, 20.0, 40.0), 4.5)
    side = window.side
    assert side == math.ceil(math.sqrt(800) * 4.5)
    x, y, w, h = map_box_back((0.5, 0.5, 0.1, 0.2), window)
    assert (x + w / 2, y + h / 2) == pytest.approx((110.0, 70.0))
    assert (w, h) == pytest.approx((0.1 * side, 0.2 * side))
    x, _, _, _ = map_box_back((0.75, 0.5, 0.0, 0.0), window)
    assert x == pytest.approx(110.0 + 0.25 * side)


@pytest.mark.parametrize(
    "box, expected",
    [
        ((10, 20, 30, 40), (10, 20, 30, 40)),
        ((-5, -7, 30, 40), (0, 0, 25, 33)),
        ((630, 355, 30, 40), (630, 350, 10, 10)),
        ((100, 100, 2, 3), (100, 100, 10, 10)),
        ((-50, 100, 20, 20), (0, 100, 10, 20)),
    ],
)
def test_clip_box_follows_the_official_rule(box, expected):
    assert clip_box(box, 360, 640) == pytest.approx(expected)


def test_clip_box_stays_inside_frames_smaller_than_the_margin():
    for height, width in ((1, 1), (5, 3)):
        x, y, w, h = clip_box((-3, 7, 50, 0.5), height, width)
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height and w > 0 and h > 0


def test_crop_window_rejects_an_empty_crop():
    with pytest.raises(ValueError, match="empty crop"):
        crop_window((0, 0, 0, 5), 2.0)
