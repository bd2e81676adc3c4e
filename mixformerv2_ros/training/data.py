"""Template/search training pairs synthesised from drone clips and still images.

A pair is (template, online template, search) uint8 RGB crops cut as the tracker cuts them
(square of side ``sqrt(w*h) * factor`` around a box), the target box in the search crop as
(cx, cy, w, h) fractions, and a label: 1 when the search crop shows the template's target,
0 for a negative that teaches the score head to say "lost": a crop of another place or image, the
target's own place with the target hidden, or another object (a different clip's target) centred
where the template's target should be. The last kind matters most: a model trained only on empty
negatives learns "an object is here" rather than "*this* object is here", and jumps with a high
score onto a similar-looking object while its target is hidden. For the same reason some positives
carry a distractor pasted into the search crop: the target of another frame of the same clip (a
look-alike) or of another clip, always farther from the crop centre than the true target.
The search crop is centred on a jittered box, because at run time it is centred on the
previous frame's estimate, never on the truth. With ``rollout_share`` some pairs are instead cut
exactly where the tracker itself cut them on a training clip (``training.rollouts``): the states
it drifts into, which the jitter rarely makes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mixformerv2_ros.tools.datasets import load_sequences
from mixformerv2_ros.tracker.crop import CropExtractor, crop_window, map_box_into
from mixformerv2_ros.training.rollouts import record_weights, record_window, truth_in_crop


@dataclass
class Pair:
    template: np.ndarray  # (T, T, 3) uint8 RGB
    online_template: np.ndarray  # (T, T, 3) uint8 RGB
    search: np.ndarray  # (S, S, 3) uint8 RGB
    box_cxcywh: np.ndarray  # (4,) float32 fractions of the search crop
    label: float  # 1 target visible in the search crop, 0 negative


_EXTRACT_CROP = CropExtractor()


def crop_around(image, box_xywh, factor, size, center_jitter=0.0, scale_jitter=0.0, rng=None):
    """Crop as the tracker does around a (jittered) box; returns the crop and the box in it (pixels).

    The crop is cut by the tracker's own code (``tracker.crop``: integer square, zero padding,
    ``cv2.resize``), so training sees exactly the pixels inference sees. Jitter stands for the
    previous frame's estimate being off: it moves the crop centre by up to
    ``center_jitter * sqrt(w*h) / 2`` per axis and scales its side by ``exp(N(0, scale_jitter))``;
    the box itself is not moved. The box is mapped into the crop the way the tracker maps
    predictions back (relative to the requested centre), so the two conventions cancel.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    cx, cy = x + w / 2, y + h / 2
    side_scale = 1.0
    if rng is not None:
        side_scale = math.exp(rng.normal(0.0, scale_jitter)) if scale_jitter else 1.0
        reach = center_jitter * math.sqrt(w * h) / 2
        cx += rng.uniform(-reach, reach)
        cy += rng.uniform(-reach, reach)
    prior = (cx - w * side_scale / 2, cy - h * side_scale / 2, w * side_scale, h * side_scale)
    window = crop_window(prior, factor)
    return _EXTRACT_CROP(image, window, size), map_box_into((x, y, w, h), window, size)


def to_cxcywh_fraction(box_xywh_px, size) -> np.ndarray:
    x, y, w, h = box_xywh_px
    return np.array([x + w / 2, y + h / 2, w, h], np.float32) / size


def photometric(crop, rng, strength=1.0):
    """Brightness/contrast/colour gains, optional blur and grayscale: what lighting and motion change."""
    out = crop.astype(np.float32)
    gains = np.exp(rng.normal(0, 0.08 * strength, 3))
    out = out * gains * math.exp(rng.normal(0, 0.15 * strength)) + rng.normal(0, 12 * strength)
    if rng.random() < 0.05 * strength:
        out[:] = out.mean(axis=2, keepdims=True)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.25 * strength:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0) if rng.random() < 0.6 else _motion_blur(out, k, rng)
    return out


def _motion_blur(crop, k, rng):
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2] = 1.0 / k
    rotation = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (k, k))
    return cv2.filter2D(crop, -1, kernel / max(kernel.sum(), 1e-6))


def occlude(crop, box_px, rng, filler=None):
    """Cover up to about half of the target with a rectangle of noise or of another image."""
    x, y, w, h = box_px
    ow, oh = w * rng.uniform(0.2, 0.7), h * rng.uniform(0.2, 0.7)
    ox = x + rng.uniform(-0.3, 1.0) * w - ow / 2
    oy = y + rng.uniform(-0.3, 1.0) * h - oh / 2
    size = crop.shape[0]
    x0, y0 = int(np.clip(ox, 0, size - 1)), int(np.clip(oy, 0, size - 1))
    x1, y1 = int(np.clip(ox + ow, x0 + 1, size)), int(np.clip(oy + oh, y0 + 1, size))
    out = crop.copy()
    if filler is not None:
        out[y0:y1, x0:x1] = cv2.resize(filler, (x1 - x0, y1 - y0))
    else:
        out[y0:y1, x0:x1] = rng.integers(0, 256, 3, dtype=np.uint8)
    return out


def _random_subimage(image, rng, min_fraction):
    """A random rectangle covering at least `min_fraction` of each side of `image`."""
    height, width = image.shape[:2]
    w = max(2, int(width * rng.uniform(min_fraction, 1.0)))
    h = max(2, int(height * rng.uniform(min_fraction, 1.0)))
    x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    return image[y:y + h, x:x + w]


def _paste(canvas, patch, box_xywh, elliptic=False):
    """Paste `patch` resized to the box (in place); an elliptic patch keeps the canvas at its corners."""
    height, width = canvas.shape[:2]
    x, y, w, h = box_xywh
    x0, y0 = int(round(x)), int(round(y))
    x1, y1 = min(width, max(x0 + 2, int(round(x + w)))), min(height, max(y0 + 2, int(round(y + h))))
    x0, y0 = max(0, min(x0, x1 - 2)), max(0, min(y0, y1 - 2))
    resized = cv2.resize(patch, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    if not elliptic:
        canvas[y0:y1, x0:x1] = resized
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.ellipse(mask, (((x1 - x0) / 2, (y1 - y0) / 2), (x1 - x0, y1 - y0), 0), 255, -1)
    region = canvas[y0:y1, x0:x1]
    region[mask > 0] = resized[mask > 0]


def _read_rgb(path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def shrink_views(views, side: float):
    """The same views seen from farther away: every frame scaled so the first view's target
    measures ``side`` px (square root of its area), as a camera downsamples (area averaging).

    Why: drone targets are often 10-30 px, and the tracker's crop then upsamples a few blurry
    pixels 4-10 times; most training clips show targets of 40-200 px. Views whose target is
    already that small are returned unchanged.
    """
    w, h = views[0][1][2:4]
    scale = side / math.sqrt(w * h)
    if scale >= 1.0:
        return views
    return [_resized_view(image, box, scale, scale, cv2.INTER_AREA) for image, box in views]


def _resized_view(image, box, scale_x: float, scale_y: float, interpolation):
    """``image`` resized by ``scale_x`` and ``scale_y``, and ``box`` on the new pixels: it follows
    the grid actually kept (the rounding of the new size)."""
    height, width = image.shape[:2]
    size = (max(1, round(width * scale_x)), max(1, round(height * scale_y)))
    resized = cv2.resize(image, size, interpolation=interpolation)
    sx, sy = size[0] / width, size[1] / height
    return resized, np.array([box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy])


def stretch_view(image, box, log_aspect: float):
    """The frame stretched to another aspect ratio, its area kept: width x exp(log_aspect / 2),
    height / exp(log_aspect / 2); the box follows the pixel grid actually kept.

    Why: on clips it has not seen, the network draws boxes about 10 % too narrow and 6 % too
    short, while on its training clips they fit (model card, "Why the fit is worse"). If it has
    learned how big each training target is instead of reading the edges in the search crop, a
    search frame stretched apart from its templates gives a target whose extent the templates
    and the clip's other frames do not tell: only its edges in the search crop do (the pysot
    family of Siamese trackers jitters the two scales of its search crops independently). Leg 18
    tried it and the fit did not move (model card, "Stretched search frames did not pay").
    """
    factor = math.exp(log_aspect / 2)
    return _resized_view(image, box, factor, 1 / factor, cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


class PairSynthesizer:
    """Draws random training pairs from clips (frame pairs) and still images (self-pairs)."""

    def __init__(self, config, clip_dirs=(), image_dir=None, image_share=0.5, paste_share=0.0,
                 negative_share=0.2, erased_share=0.0, other_target_share=0.0, distractor_share=0.0,
                 small_target_share=0.0, small_target_sides=(8.0, 32.0), stretch_share=0.0, max_stretch=0.4,
                 max_gap=60, online_gap=None, center_jitter=3.0, scale_jitter=0.25, seed=0,
                 rollouts=None, rollout_share=0.0):
        self.t_size, self.s_size = config.template_size, config.search_size
        self.t_factor, self.s_factor = config.template_factor, config.search_factor
        self.rng = np.random.default_rng(seed)
        self.clips = []
        for clip in clip_dirs:
            (sequence,) = load_sequences(Path(clip), "uav_dev")
            gt = sequence.ground_truth
            valid = np.flatnonzero(np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 1) & (gt[:, 3] > 1))
            self.clips.append((sequence.frames, gt, valid))
        self.images = sorted(Path(image_dir).glob("*.jpg")) if image_dir else []
        if not self.clips and not self.images:
            raise ValueError("no training data: give clip folders and/or an image folder")
        self.image_share = image_share if self.clips and self.images else float(bool(self.images))
        self.paste_share = paste_share
        self.negative_share = negative_share
        self.erased_share = erased_share  # of the negatives: the target's place with the target hidden
        self.other_target_share = other_target_share  # of the negatives: another object in its place
        if erased_share + other_target_share > 1:
            raise ValueError("erased_share + other_target_share is a share of the negatives: at most 1")
        if not 0.0 <= distractor_share <= 1.0:
            raise ValueError(f"distractor_share is a share of the positive clip pairs: got {distractor_share}")
        self.distractor_share = distractor_share  # of the positive clip pairs: a look-alike pasted in
        if not 0.0 <= small_target_share <= 1.0:
            raise ValueError(f"small_target_share is a share of the clip pairs: got {small_target_share}")
        self.small_target_share = small_target_share  # of the clip pairs: seen from farther away
        self.small_target_sides = small_target_sides  # px, drawn log-uniformly
        if not 0.0 <= stretch_share <= 1.0:
            raise ValueError(f"stretch_share is a share of the clip pairs: got {stretch_share}")
        if not 0.0 < max_stretch <= 1.0:
            raise ValueError(f"max_stretch is the largest |log aspect change| (0 to 1]: got {max_stretch}")
        self.stretch_share = stretch_share  # of the clip pairs cut at the target: the search frame stretched
        self.max_stretch = max_stretch  # |log aspect change|, drawn uniformly
        self._template_clip = None  # index of the clip the current pair's template comes from
        self.max_gap, self.center_jitter, self.scale_jitter = max_gap, center_jitter, scale_jitter
        if online_gap is not None and online_gap < 0:
            raise ValueError(f"online_gap must be at least 0 frames, got {online_gap}")
        self.online_gap = online_gap
        self._frame_cache: dict[Path, np.ndarray] = {}
        if not 0.0 <= rollout_share <= 1.0:
            raise ValueError(f"rollout_share is a share of all pairs: got {rollout_share}")
        if rollout_share and not rollouts:
            raise ValueError("rollout_share needs rollouts (training.rollouts records them)")
        self.rollout_share = rollout_share  # of all pairs: cut where the tracker itself cut them
        self.rollouts = json.loads(Path(rollouts).read_text()) if rollout_share else []
        self._rollout_p = record_weights(self.rollouts) if self.rollouts else None
        self._rollout_frames: dict[str, tuple] = {}

    def _frame(self, path) -> np.ndarray:
        if path not in self._frame_cache:
            # decoding dominates synthesis; 2000 decoded frames/images stay under ~1.5 GB
            if len(self._frame_cache) > 2000:
                self._frame_cache.clear()
            self._frame_cache[path] = _read_rgb(path)
        return self._frame_cache[path]

    def _clip_views(self):
        """Three frames of one clip: template, online template, search.

        The search frame lies within ``max_gap`` frames of the template's. The online template
        does too (``online_gap`` None, the legs' recipe), or, as when tracking, lies within
        ``online_gap`` frames of the search frame: the tracker's online template is at most one
        update interval old, while its static template is the first frame, however long ago.
        """
        self._template_clip = int(self.rng.integers(len(self.clips)))
        frames, gt, valid = self.clips[self._template_clip]
        first = int(self.rng.choice(valid))
        near = valid[np.abs(valid - first) <= self.max_gap]
        if self.online_gap is None:
            online, search = (int(i) for i in self.rng.choice(near, 2))
        else:
            search = int(self.rng.choice(near))
            online = int(self.rng.choice(valid[np.abs(valid - search) <= self.online_gap]))
        return [(self._frame(frames[i]), gt[i]) for i in (first, online, search)]

    def _image_views(self):
        """One still image seen three times; the target is a random region of it."""
        image = self._frame(self.images[self.rng.integers(len(self.images))])
        height, width = image.shape[:2]
        area = self.rng.uniform(0.01, 0.1) * width * height
        aspect = math.exp(self.rng.uniform(-0.8, 0.8))
        w = min(math.sqrt(area * aspect), width * 0.9)
        h = min(math.sqrt(area / aspect), height * 0.9)
        x, y = self.rng.uniform(0, width - w), self.rng.uniform(0, height - h)
        box = np.array([x, y, w, h])
        return [(image, box)] * 3

    def _pasted_views(self):
        """A patch of one still image pasted onto another, moved and rescaled between the views.

        Unlike a random region of a still image, this target has visible edges and an aspect
        ratio of its own (0.33 to 3), which the model must read off the template: the random
        regions alone taught it one generic box shape. The background shifts a little between
        views, as under a moving camera, and a second patch sometimes acts as a distractor.
        """
        rng = self.rng
        background = self._frame(self.images[rng.integers(len(self.images))])
        source = self._frame(self.images[rng.integers(len(self.images))])
        patch = _random_subimage(source, rng, 0.3)
        decoy = _random_subimage(self._frame(self.images[rng.integers(len(self.images))]), rng, 0.3) \
            if rng.random() < 0.3 else None
        height, width = background.shape[:2]
        area = math.exp(rng.uniform(math.log(0.002), math.log(0.05))) * width * height  # drone-sized
        aspect = math.exp(rng.uniform(-1.1, 1.1))
        elliptic = rng.random() < 0.3
        views = []
        for view in range(3):
            view_area = area * (math.exp(rng.normal(0, 0.2)) if view else 1.0)
            view_aspect = aspect * (math.exp(rng.normal(0, 0.08)) if view else 1.0)
            w = min(math.sqrt(view_area * view_aspect), width * 0.8)
            h = min(math.sqrt(view_area / view_aspect), height * 0.8)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            shift = np.float32([[1, 0, rng.normal(0, 0.05) * width], [0, 1, rng.normal(0, 0.05) * height]])
            canvas = cv2.warpAffine(background, shift, (width, height), borderMode=cv2.BORDER_REFLECT)
            if decoy is not None:
                _paste(canvas, decoy, (rng.uniform(0, width - w), rng.uniform(0, height - h), w, h), elliptic)
            box = np.array([x, y, w, h])
            _paste(canvas, patch, box, elliptic)
            views.append((canvas, box))
        return views

    def _erase(self, crop, box_px):
        """Hide the target and a margin around it with a flat colour, a blur, noise or another image."""
        x, y, w, h = box_px
        margin = self.rng.uniform(0.1, 0.5)
        size = crop.shape[0]
        x0, y0 = int(np.clip(x - margin * w, 0, size - 1)), int(np.clip(y - margin * h, 0, size - 1))
        x1 = int(np.clip(x + w + margin * w, x0 + 1, size))
        y1 = int(np.clip(y + h + margin * h, y0 + 1, size))
        out = crop.copy()
        kind = self.rng.integers(4)
        if kind == 0:
            out[y0:y1, x0:x1] = crop.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        elif kind == 1:
            out[y0:y1, x0:x1] = cv2.blur(crop, (size // 3 | 1, size // 3 | 1))[y0:y1, x0:x1]
        elif kind == 2:
            out[y0:y1, x0:x1] = self.rng.integers(0, 256, (y1 - y0, x1 - x0, 3), dtype=np.uint8)
        else:
            out[y0:y1, x0:x1] = cv2.resize(self._negative_search(), (x1 - x0, y1 - y0))
        return out

    def _negative_search(self):
        """A search crop that does not show the template's target.

        Clips hold one target each, so a clip negative is a crop of a frame placed away from
        that frame's target (a crop around the target of a clip could be the template's own).
        """
        if self.images and (not self.clips or self.rng.random() < 0.5):
            image, box = self._image_views()[2]
            crop, _ = crop_around(image, box, self.s_factor, self.s_size, 1.0, self.scale_jitter, self.rng)
            return crop
        image, box = self._clip_views()[2]
        height, width = image.shape[:2]
        x, y, w, h = box
        side = math.sqrt(w * h) * self.s_factor * math.exp(self.rng.normal(0.0, self.scale_jitter))
        for _ in range(20):  # targets are small against the frame: this rarely needs a retry
            cx, cy = self.rng.uniform(0, width), self.rng.uniform(0, height)
            if abs(cx - x - w / 2) > (side + w) / 2 or abs(cy - y - h / 2) > (side + h) / 2:
                break
        decoy = (cx - side / self.s_factor / 2, cy - side / self.s_factor / 2,
                 side / self.s_factor, side / self.s_factor)
        crop, _ = crop_around(image, decoy, self.s_factor, self.s_size)
        return crop

    def _other_target_search(self, exclude_clip):
        """A search crop centred (with jitter) on the target of a clip other than ``exclude_clip``:
        an object, framed as the tracker frames its own target, that is not the template's."""
        choices = [i for i in range(len(self.clips)) if i != exclude_clip]
        image, box = self._random_target_view(choices[self.rng.integers(len(choices))])
        crop, _ = crop_around(image, box, self.s_factor, self.s_size, self.center_jitter, self.scale_jitter,
                              self.rng)
        return crop

    def _random_target_view(self, clip):
        """A random frame of ``clip`` with a usable ground-truth box: (image, box)."""
        frames, gt, valid = self.clips[clip]
        index = int(self.rng.choice(valid))
        return self._frame(frames[index]), gt[index]

    def _distractor_patch(self, clip):
        """The target as it looks in a random frame of ``clip`` (its ground-truth box, no context)."""
        image, (x, y, w, h) = self._random_target_view(clip)
        x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
        x1 = min(image.shape[1], max(x0 + 2, int(round(x + w))))
        y1 = min(image.shape[0], max(y0 + 2, int(round(y + h))))
        return image[y0:y1, x0:x1]

    def _add_distractor(self, search, box_px, patch):
        """Paste ``patch`` into the search crop beside the target, sized like it, never over it.

        The decoy's centre is kept farther from the crop centre than the target's: at run time the
        crop is centred on the last estimate, so "the nearer of two look-alikes" is the right rule,
        and a same-clip decoy can only be told apart by it. Returns the crop unchanged when no such
        place exists (a target that fills the crop).
        """
        size = search.shape[0]
        x, y, w, h = box_px
        target_offset = math.hypot(x + w / 2 - size / 2, y + h / 2 - size / 2)
        patch_h, patch_w = patch.shape[:2]
        scale = math.sqrt(w * h / max(patch_w * patch_h, 1)) * math.exp(self.rng.normal(0.0, 0.15))
        dw, dh = max(2.0, patch_w * scale), max(2.0, patch_h * scale)
        if dw >= size or dh >= size:
            return search
        for _ in range(20):
            dx, dy = self.rng.uniform(0, size - dw), self.rng.uniform(0, size - dh)
            apart = dx + dw <= x or x + w <= dx or dy + dh <= y or y + h <= dy
            offset = math.hypot(dx + dw / 2 - size / 2, dy + dh / 2 - size / 2)
            if apart and offset > target_offset + 0.5 * math.sqrt(w * h):
                out = search.copy()
                _paste(out, patch, (dx, dy, dw, dh), elliptic=self.rng.random() < 0.3)
                return out
        return search

    def _rollout_pair(self) -> Pair:
        """A pair cut as the tracker cut it on a frame of its own run (``training.rollouts``): its
        templates, its search window, the truth as label, or a negative where the truth lies
        outside the crop."""
        record = self.rollouts[int(self.rng.choice(len(self.rollouts), p=self._rollout_p))]
        if record["clip"] not in self._rollout_frames:
            (sequence,) = load_sequences(Path(record["clip"]), "uav_dev")
            self._rollout_frames[record["clip"]] = sequence.frames
        frames = self._rollout_frames[record["clip"]]
        (template_frame, template_box), (online_frame, online_box) = record["template"], record["online"]
        template, _ = crop_around(self._frame(frames[template_frame]), template_box, self.t_factor, self.t_size)
        online, _ = crop_around(self._frame(frames[online_frame]), online_box, self.t_factor, self.t_size)
        online = photometric(online, self.rng, 0.5)
        search = _EXTRACT_CROP(self._frame(frames[record["search"]]), record_window(record), self.s_size)
        search = photometric(search, self.rng, 1.0)
        box_px = truth_in_crop(record, self.s_size)
        if box_px is None:
            return Pair(template, online, search, np.zeros(4, np.float32), 0.0)
        return Pair(template, online, search, to_cxcywh_fraction(box_px, self.s_size), 1.0)

    def sample(self) -> Pair:
        # (no draw when the share is 0: pairs synthesised before this option existed stay the same)
        if self.rollout_share and self.rng.random() < self.rollout_share:
            return self._rollout_pair()
        from_images = self.rng.random() < self.image_share
        self._template_clip = None
        if from_images:
            views = self._pasted_views() if self.rng.random() < self.paste_share else self._image_views()
        else:
            views = self._clip_views()
            # (no draw when the share is 0: pairs synthesised before this option existed stay the same)
            if self.small_target_share and self.rng.random() < self.small_target_share:
                low, high = self.small_target_sides
                views = shrink_views(views, math.exp(self.rng.uniform(math.log(low), math.log(high))))
        strength = 1.5 if from_images else 1.0
        (t_img, t_box), (o_img, o_box), (s_img, s_box) = views
        template, _ = crop_around(t_img, t_box, self.t_factor, self.t_size)
        online, _ = crop_around(o_img, o_box, self.t_factor, self.t_size, 0.2, 0.05, self.rng)
        online = photometric(online, self.rng, 0.5 * strength)
        negative = self.rng.random() < self.negative_share
        kind = self.rng.random()
        other_clips = len(self.clips) - (self._template_clip is not None)
        if negative and self.erased_share <= kind < self.erased_share + self.other_target_share and other_clips:
            search = photometric(self._other_target_search(self._template_clip), self.rng, strength)
            return Pair(template, online, search, np.zeros(4, np.float32), 0.0)
        if negative and kind >= self.erased_share:
            search = photometric(self._negative_search(), self.rng, strength)
            return Pair(template, online, search, np.zeros(4, np.float32), 0.0)
        # (no draw when the share is 0: pairs synthesised before this option existed stay the same)
        if self.stretch_share and self._template_clip is not None and self.rng.random() < self.stretch_share:
            s_img, s_box = stretch_view(s_img, s_box, self.rng.uniform(-self.max_stretch, self.max_stretch))
        search, box_px = crop_around(s_img, s_box, self.s_factor, self.s_size,
                                     self.center_jitter, self.scale_jitter, self.rng)
        if negative:  # the right place, but the target is gone (fully hidden): the score must say so
            search = photometric(self._erase(search, box_px), self.rng, strength)
            return Pair(template, online, search, np.zeros(4, np.float32), 0.0)
        # (no draw when the share is 0: pairs synthesised before this option existed stay the same)
        if self.distractor_share and self._template_clip is not None and self.rng.random() < self.distractor_share:
            others = len(self.clips) > 1 and self.rng.random() < 0.5
            clip = self._template_clip
            if others:
                clip = (clip + 1 + int(self.rng.integers(len(self.clips) - 1))) % len(self.clips)
            search = self._add_distractor(search, box_px, self._distractor_patch(clip))
        search = photometric(search, self.rng, strength)
        if self.rng.random() < 0.2:
            filler = self._negative_search() if self.rng.random() < 0.5 else None
            search = occlude(search, box_px, self.rng, filler)
        return Pair(template, online, search, to_cxcywh_fraction(box_px, self.s_size), 1.0)
