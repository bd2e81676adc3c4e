"""Training package: pair synthesis gives consistent crops/boxes; a few steps lower the loss;
the CLI resumes and exports graphs the tracker runs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mixformerv2_ros.model.config import ModelConfig
from mixformerv2_ros.training.data import (
    PairSynthesizer,
    crop_around,
    to_cxcywh_fraction,
)
from mixformerv2_ros.training.losses import tracking_loss
from mixformerv2_ros.training.model import DEMO_CONFIG, build_demo_model, set_train_mode

TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "mlp_ratio": 1.0, "head_hidden_dim": 32,
        "template_size": 32, "search_size": 64}
TINY_CONFIG = ModelConfig(**{**DEMO_CONFIG.__dict__, **TINY})


def test_crop_around_is_the_trackers_crop_and_maps_the_box_onto_its_pixels():
    from mixformerv2_ros.tracker.crop import CropExtractor, crop_window

    image = np.zeros((200, 300, 3), np.uint8)
    box = (120.0, 60.0, 40.0, 20.0)
    image[60:80, 120:160] = (255, 0, 0)
    crop, mapped = crop_around(image, box, factor=4.0, size=128)
    # train as you track: the very pixels the tracker cuts (integer side ceil(sqrt(w*h) * factor))
    assert np.array_equal(crop, CropExtractor()(image, crop_window(box, 4.0), 128))
    x, y, w, h = mapped
    side = np.ceil(np.sqrt(40 * 20) * 4.0)
    assert w * h == pytest.approx(40 * 20 * (128 / side) ** 2, rel=1e-4)
    assert (x + w / 2, y + h / 2) == pytest.approx((64.0, 64.0), abs=1e-3)
    inside = crop[int(y) + 2:int(y + h) - 2, int(x) + 2:int(x + w) - 2]
    assert inside.size and np.all(inside == (255, 0, 0))
    assert crop[:int(y) - 2].max() == 0 and crop[int(y + h) + 2:].max() == 0


def test_jittered_crop_still_maps_the_box_exactly():
    image = np.zeros((240, 320, 3), np.uint8)
    image[100:130, 150:170] = 200
    rng = np.random.default_rng(3)
    for _ in range(10):
        crop, (x, y, w, h) = crop_around(image, (150, 100, 20, 30), 4.5, 96, 3.0, 0.25, rng)
        x0, x1, y0, y1 = int(np.ceil(x)) + 1, int(x + w) - 1, int(np.ceil(y)) + 1, int(y + h) - 1
        if x0 >= 0 and y0 >= 0 and x1 <= 96 and y1 <= 96 and x1 > x0 and y1 > y0:
            assert np.all(crop[y0:y1, x0:x1] == 200)


def test_synthesised_pairs_are_valid(shared_dir):
    data = shared_dir / "data"
    synth = PairSynthesizer(TINY_CONFIG, [data / "uav_dev" / "boat1"], data / "imagenet_samples",
                            negative_share=0.3, seed=0)
    pairs = [synth.sample() for _ in range(60)]
    labels = np.array([p.label for p in pairs])
    assert 0 < labels.mean() < 1  # both positives and negatives
    for p in pairs:
        assert p.template.shape == p.online_template.shape == (32, 32, 3)
        assert p.search.shape == (64, 64, 3) and p.search.dtype == np.uint8
    boxes = np.array([p.box_cxcywh for p in pairs if p.label])
    assert np.all(boxes[:, 2:] > 0)
    # the target is normalised to 1/search_factor of the crop, up to the scale jitter (4 sigma)
    sides = np.sqrt(boxes[:, 2] * boxes[:, 3]) * TINY_CONFIG.search_factor
    assert np.all((sides > np.exp(-1.0)) & (sides < np.exp(1.0)))
    inside = np.all((boxes[:, :2] > 0) & (boxes[:, :2] < 1), axis=1)
    assert inside.mean() >= 0.9  # centre jitter moves the crop, rarely off the target
    assert all(p.search.max() > 0 for p in pairs)  # no all-padding crops
    assert to_cxcywh_fraction((10, 20, 30, 40), 100) == pytest.approx([0.25, 0.4, 0.3, 0.4])



def test_pasted_targets_fill_their_box_and_keep_their_aspect_ratio(shared_dir):
    """Pasted-patch views: the box is exactly the patch, and the aspect ratio holds across views."""
    from mixformerv2_ros.training.data import _paste

    canvas = np.zeros((100, 120, 3), np.uint8)
    _paste(canvas, np.full((7, 3, 3), 255, np.uint8), (30.0, 20.0, 40.0, 10.0))
    ys, xs = np.nonzero(canvas[..., 0])
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (30, 70, 20, 30)
    synth = PairSynthesizer(TINY_CONFIG, [], shared_dir / "data" / "imagenet_samples", paste_share=1.0, seed=1)
    aspects = []
    for _ in range(40):
        views = synth._pasted_views()
        ratios = [box[2] / box[3] for _, box in views]
        assert max(ratios) / min(ratios) < np.exp(0.5)  # 6 sigma of the per-view aspect change
        aspects.append(ratios[0])
    assert min(aspects) < 0.6 and max(aspects) > 1.6  # tall and wide targets both occur


def test_erased_negatives_hide_the_target_where_it_was(shared_dir):
    data = shared_dir / "data"
    synth = PairSynthesizer(TINY_CONFIG, [data / "uav_dev" / "boat1"], None, negative_share=1.0,
                            erased_share=1.0, seed=2)
    search, box = crop_around(np.full((200, 200, 3), 40, np.uint8), (90, 90, 20, 20), 3.0, 64)
    search[int(box[1]):int(box[1] + box[3]), int(box[0]):int(box[0] + box[2])] = 250  # the target
    for _ in range(8):
        erased = synth._erase(search, box)
        x, y, w, h = (int(v) for v in box)
        left = np.all(erased[y:y + h, x:x + w] == 250, axis=2).mean()
        assert left < 0.02, f"{left:.0%} of the target's pixels left"
        assert np.array_equal(erased[:5], search[:5]), "the rest of the crop is kept"
    pairs = [synth.sample() for _ in range(10)]
    assert all(p.label == 0.0 and not p.box_cxcywh.any() for p in pairs)


def test_other_target_negatives_centre_a_different_clips_target(shared_dir):
    """The negatives that teach the score *which* object: another clip's target, framed as the
    tracker frames its own, never a frame of the template's clip."""
    clips = [shared_dir / "data" / "uav_dev" / name for name in ("boat1", "car16_1")]
    synth = PairSynthesizer(TINY_CONFIG, clips, None, image_share=0.0, negative_share=1.0, erased_share=0.0,
                            other_target_share=1.0, center_jitter=0.0, scale_jitter=0.0, seed=4)
    frames, truth, valid = synth.clips[1]
    expected = {crop_around(synth._frame(frames[i]), truth[i], TINY_CONFIG.search_factor, 64)[0].tobytes()
                for i in valid}
    for _ in range(5):
        assert synth._other_target_search(exclude_clip=0).tobytes() in expected
    pairs = [synth.sample() for _ in range(10)]
    assert all(p.label == 0.0 and not p.box_cxcywh.any() for p in pairs)
    with pytest.raises(ValueError, match="share of the negatives"):
        PairSynthesizer(TINY_CONFIG, clips, None, erased_share=0.7, other_target_share=0.5)


def test_distractors_look_like_a_target_sit_beside_it_and_farther_from_the_centre(shared_dir):
    """The look-alike pasted into a positive: the true target's pixels and box are kept, and the
    decoy lies outside the target's box, farther from the crop centre (the run-time rule)."""
    clips = [shared_dir / "data" / "uav_dev" / name for name in ("boat1", "car16_1")]
    synth = PairSynthesizer(TINY_CONFIG, clips, None, image_share=0.0, negative_share=0.0,
                            distractor_share=1.0, seed=5)
    size = 64
    search = np.full((size, size, 3), 90, np.uint8)
    box = (36.0, 30.0, 10.0, 8.0)
    search[30:38, 36:46] = 250
    patch = np.full((16, 20, 3), 10, np.uint8)
    placed = 0
    for _ in range(20):
        out = synth._add_distractor(search, box, patch)
        assert np.array_equal(out[30:38, 36:46], search[30:38, 36:46]), "the target is never covered"
        changed = np.argwhere(np.any(out != search, axis=2))
        if len(changed) == 0:
            continue
        placed += 1
        assert np.all(out[changed[:, 0], changed[:, 1]] == 10), "only the decoy's pixels change"
        cy, cx = changed.mean(axis=0) + 0.5
        assert np.hypot(cx - size / 2, cy - size / 2) > np.hypot(41 - size / 2, 34 - size / 2)
        assert changed.shape[0] < 2.5 * 10 * 8, "the decoy is sized like the target"
    assert placed >= 15
    assert synth._add_distractor(search, (0.0, 0.0, 60.0, 60.0), patch) is search, "no room: unchanged"
    pairs = [synth.sample() for _ in range(10)]
    assert all(p.label == 1.0 and p.box_cxcywh.any() for p in pairs)
    with pytest.raises(ValueError, match="distractor_share"):
        PairSynthesizer(TINY_CONFIG, clips, None, distractor_share=1.5)


def test_shrunk_views_show_a_small_target_whose_crop_is_blurred_and_labelled_alike(shared_dir):
    """--small-target-share: frames seen from farther away. The box shrinks with the frame, the
    tracker's crop maps it to the same place (to the pixel rounding of a small window), and the
    crop is visibly softer (upsampled pixels)."""
    import cv2

    from mixformerv2_ros.training.data import shrink_views

    clip = shared_dir / "data" / "uav_dev" / "boat1"
    gt = np.loadtxt(clip / "groundtruth.txt", delimiter=",")
    views = [(cv2.imread(str(clip / "img" / f"{i + 1:08d}.jpg")), gt[i]) for i in (0, 5, 10)]
    shrunk = shrink_views(views, 12.0)
    assert np.sqrt(shrunk[0][1][2] * shrunk[0][1][3]) == pytest.approx(12.0, rel=0.02)
    for (image, box), (small, small_box) in zip(views, shrunk):
        scale = small.shape[1] / image.shape[1]
        assert scale < 0.5 and np.allclose(small_box, box * scale, rtol=0.01)
    assert shrink_views(shrunk, 20.0) is shrunk  # never enlarges
    sharp, _ = crop_around(views[2][0], views[2][1], 4.5, 224)
    soft, box_px = crop_around(shrunk[2][0], shrunk[2][1], 4.5, 224)
    _, box_sharp = crop_around(views[2][0], views[2][1], 4.5, 224)
    assert np.allclose(box_px, box_sharp, atol=1.5)  # the same label in crop pixels, to the window's rounding
    detail = lambda crop: cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert detail(soft) < 0.5 * detail(sharp)

    synth = PairSynthesizer(TINY_CONFIG, [clip], None, negative_share=0.0, small_target_share=1.0, seed=3)
    for _ in range(5):
        pair = synth.sample()
        assert pair.label == 1.0 and 0.1 < pair.box_cxcywh[0] < 0.9 and pair.box_cxcywh[2] > 0.05
    with pytest.raises(ValueError, match="small_target_share"):
        PairSynthesizer(TINY_CONFIG, [clip], None, small_target_share=-0.1)


def test_a_stretched_search_frame_changes_the_targets_aspect_and_its_label_follows(shared_dir):
    """--stretch-share: the search frame alone gets another aspect ratio (area kept), the label
    is the stretched target's box in the tracker's crop, and the templates are untouched."""
    import cv2

    from mixformerv2_ros.training.data import stretch_view

    clip = shared_dir / "data" / "uav_dev" / "boat1"
    gt = np.loadtxt(clip / "groundtruth.txt", delimiter=",")
    image = cv2.cvtColor(cv2.imread(str(sorted((clip / "img").glob("*.jpg"))[0])), cv2.COLOR_BGR2RGB)
    wide, box = stretch_view(image, gt[0], 0.4)
    assert wide.shape[1] / wide.shape[0] == pytest.approx(image.shape[1] / image.shape[0] * np.exp(0.4), rel=0.01)
    assert wide.shape[0] * wide.shape[1] == pytest.approx(image.shape[0] * image.shape[1], rel=0.01)
    assert (box[2] / box[3]) / (gt[0][2] / gt[0][3]) == pytest.approx(np.exp(0.4), rel=0.01)
    # the box covers the same pixels: the stretched target's crop is the original one's, resized
    x, y, w, h = np.round(box).astype(int)
    x0, y0, w0, h0 = gt[0].astype(int)
    original = cv2.resize(image[y0:y0 + h0, x0:x0 + w0], (w, h), interpolation=cv2.INTER_AREA)
    assert np.abs(wide[y:y + h, x:x + w].astype(float) - original).mean() < 12
    # in pairs: with every clip pair stretched, the label's aspect ratio spreads around the truth's
    def aspect_spread(share):
        synth = PairSynthesizer(TINY_CONFIG, [clip], None, image_share=0.0, negative_share=0.0,
                                stretch_share=share, seed=3)
        real_views = synth._clip_views

        def one_frame():  # the clip's first frame three times: only a stretch changes the aspect
            real_views()  # (which also notes the template's clip)
            return [(image, gt[0])] * 3

        synth._clip_views = one_frame
        logs = []
        for _ in range(40):
            pair = synth.sample()
            logs.append(np.log(pair.box_cxcywh[2] / pair.box_cxcywh[3]))
        return np.std(logs), pair
    plain, _ = aspect_spread(0.0)
    stretched, pair = aspect_spread(1.0)
    assert plain < 0.01 and 0.15 < stretched < 0.3  # uniform on +-0.4: std 0.23
    template, _ = crop_around(image, gt[0], TINY_CONFIG.template_factor, TINY_CONFIG.template_size)
    assert np.array_equal(pair.template, template), "the templates keep the target's true aspect"
    with pytest.raises(ValueError, match="stretch_share"):
        PairSynthesizer(TINY_CONFIG, [clip], None, stretch_share=1.5)
    with pytest.raises(ValueError, match="max_stretch"):
        PairSynthesizer(TINY_CONFIG, [clip], None, max_stretch=0.0)


def test_the_feature_cache_name_changes_with_every_synthesis_option(tmp_path):
    from mixformerv2_ros.training.train import _synthesis_key, parse_args

    base = ["--data", "d", "--pairs", "32"]
    records = tmp_path / "rollouts.json"
    records.write_text("[]")
    keys = {_synthesis_key(parse_args(base + extra)) for extra in
            ([], ["--negative-share", "0.5"], ["--erased-share", "0.1"], ["--other-target-share", "0.1"],
             ["--image-share", "0.2"], ["--train-clips", "boat1"], ["--extra-dir", "clips"],
             ["--distractor-share", "0.3"], ["--small-target-share", "0.3"], ["--workers", "2"],
             ["--max-gap", "200"], ["--online-gap", "25"],
             ["--rollouts", str(records), "--rollout-share", "0.3"],
             ["--stretch-share", "0.5"], ["--stretch-share", "0.5", "--max-stretch", "0.2"])}
    assert len(keys) == 15
    # other records under the same file name are other pairs
    before = _synthesis_key(parse_args(base + ["--rollouts", str(records), "--rollout-share", "0.3"]))
    records.write_text("[{}]")
    assert _synthesis_key(parse_args(base + ["--rollouts", str(records), "--rollout-share", "0.3"])) != before
    assert _synthesis_key(parse_args(base)) == _synthesis_key(parse_args(base + ["--minutes", "3"]))
    # seeded batches give the same pairs for any number of workers
    assert _synthesis_key(parse_args(base + ["--workers", "2"])) == _synthesis_key(parse_args(base + ["--workers", "5"]))


def test_a_few_training_steps_decrease_the_loss(shared_dir):
    torch.manual_seed(0)
    data = shared_dir / "data"
    synth = PairSynthesizer(TINY_CONFIG, [data / "uav_dev" / "boat1"], seed=1)
    pairs = [synth.sample() for _ in range(16)]
    model = build_demo_model(TINY_CONFIG, pretrained=False)

    mean = torch.tensor(TINY_CONFIG.mean).view(1, 3, 1, 1)
    std = torch.tensor(TINY_CONFIG.std).view(1, 3, 1, 1)

    def batch(key):
        x = torch.from_numpy(np.stack([getattr(p, key) for p in pairs])).permute(0, 3, 1, 2).float()
        return (x / 255 - mean) / std

    template, online, search = batch("template"), batch("online_template"), batch("search")
    stem = model.backbone.patch_embed.stem
    with torch.no_grad():
        features = [stem(x) for x in (template, online, search)]  # the cached-feature path
    boxes = torch.from_numpy(np.stack([p.box_cxcywh for p in pairs]))
    labels = torch.tensor([p.label for p in pairs])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    stem_before = [p.clone() for p in stem.parameters()]
    losses = []
    set_train_mode(model)
    for _ in range(40):
        loss, _ = tracking_loss(model(*features), boxes, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3])
    assert all(torch.equal(a, b) for a, b in zip(stem_before, stem.parameters()))  # frozen
    model.eval()
    with torch.no_grad():  # features and images give the same result
        assert torch.allclose(model(*features)["boxes_cxcywh"], model(template, online, search)["boxes_cxcywh"],
                              atol=1e-5)


def test_cli_resumes_and_exports_a_model_the_tracker_runs(shared_dir, tmp_path):
    import cv2

    from mixformerv2_ros.tracker import Tracker
    from mixformerv2_ros.training import train

    args = ["--data", str(shared_dir / "data"), "--work", str(tmp_path), "--pairs", "32", "--val-pairs", "16",
            "--train-clips", "boat1", "--heldout-clips", "car16_1", "--batch", "4", "--log-every", "1",
            "--no-pretrained", "--config", json.dumps(TINY)]
    assert train.main(args + ["--max-steps", "2"]) == 0
    out = tmp_path / "demo.onnx"
    assert train.main(args + ["--max-steps", "3", "--export", str(out)]) == 0
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # the second run continued from step 2
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 3

    tracker = Tracker.from_checkpoint(out)
    assert tracker.backend.config.search_size == 64 and tracker.backend.config.mean == (0.0, 0.0, 0.0)
    clip = shared_dir / "data" / "uav_dev" / "boat1"
    gt = [float(v) for v in (clip / "groundtruth.txt").read_text().splitlines()[0].split(",")]
    tracker.initialize(cv2.imread(str(clip / "img" / "00000001.jpg")), gt)
    result = tracker.track(cv2.imread(str(clip / "img" / "00000002.jpg")))
    assert 0.0 <= result.score <= 1.0 and all(np.isfinite(result.box))


def test_init_from_carries_the_dense_head_into_the_next_leg(shared_dir, tmp_path):
    """A leg started with --init-from continues the previous leg's dense head too: a fresh, random
    one would push large gradients into the backbone at the start of every leg."""
    from mixformerv2_ros.training import train

    common = ["--data", str(shared_dir / "data"), "--pairs", "16", "--val-pairs", "8", "--train-clips", "boat1",
              "--heldout-clips", "car16_1", "--batch", "4", "--no-pretrained", "--config", json.dumps(TINY)]
    assert train.main(common + ["--work", str(tmp_path / "leg1"), "--max-steps", "2"]) == 0
    first = torch.load(tmp_path / "leg1" / "checkpoint.pt", weights_only=True)
    # a zero rate: the step changes nothing, so the saved weights are the ones the leg started from
    leg1 = str(tmp_path / "leg1" / "checkpoint.pt")
    assert train.main(common + ["--work", str(tmp_path / "leg2"), "--init-from", leg1,
                                "--max-steps", "1", "--lr", "0", "--seed", "1"]) == 0
    second = torch.load(tmp_path / "leg2" / "checkpoint.pt", weights_only=True)
    for name, value in first["aux_head"].items():
        assert torch.equal(second["aux_head"][name], value), name
    for name, value in first["model"].items():
        if not name.endswith(("pos_embed_s", "pos_embed_t")):
            assert torch.equal(second["model"][name], value), name


def test_the_shipped_model_imports_back_exactly():
    """The exported graphs are the one copy of the shipped weights every clone has: read back into
    the training model and exported again, they give the shipped graphs' outputs exactly."""
    import onnxruntime as ort

    from mixformerv2_ros.model.config import demo_model_path, templates_path_for
    from mixformerv2_ros.model.onnx_export import export_onnx
    from mixformerv2_ros.training.model import build_demo_model
    from mixformerv2_ros.training.onnx_import import weights_from_onnx

    model = build_demo_model()
    model.load_state_dict(weights_from_onnx(demo_model_path(), model))
    again, _ = export_onnx(model, Path(tempfile.mkdtemp()) / "again.onnx")
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (1, 3, 112, 112)).astype(np.float32)
    search = rng.uniform(0, 255, (2, 3, 224, 224)).astype(np.float32)

    def outputs(step_path):
        templates = ort.InferenceSession(str(templates_path_for(step_path)))
        cache = templates.run(None, {"template": template, "online_template": template})[0]
        return ort.InferenceSession(str(step_path)).run(None, {"template_cache": cache, "search": search})

    for shipped, imported in zip(outputs(demo_model_path()), outputs(again)):
        assert np.array_equal(shipped, imported)


def test_cli_starts_a_leg_from_an_exported_model_and_refuses_a_tuned_stem(shared_dir, tmp_path):
    from mixformerv2_ros.training import train
    from mixformerv2_ros.training.onnx_import import weights_from_onnx

    common = ["--data", str(shared_dir / "data"), "--pairs", "16", "--val-pairs", "8", "--train-clips", "boat1",
              "--heldout-clips", "car16_1", "--batch", "4", "--no-pretrained", "--config", json.dumps(TINY)]
    exported = tmp_path / "leg1.onnx"
    assert train.main(common + ["--work", str(tmp_path / "leg1"), "--max-steps", "2", "--export", str(exported)]) == 0
    first = torch.load(tmp_path / "leg1" / "checkpoint.pt", weights_only=True)["model"]
    # a zero rate: the saved weights are the ones the leg started from
    assert train.main(common + ["--work", str(tmp_path / "leg2"), "--init-from", str(exported),
                                "--max-steps", "1", "--lr", "0", "--seed", "1"]) == 0
    second = torch.load(tmp_path / "leg2" / "checkpoint.pt", weights_only=True)["model"]
    for name, value in first.items():
        if not name.endswith(("pos_embed_s", "pos_embed_t", "reg_tokens", "pos_embed_reg")):
            assert torch.equal(second[name], value), name
    # the graph holds the prediction tokens' sum only, which is all the network uses
    assert torch.allclose(second["backbone.reg_tokens"] + second["backbone.pos_embed_reg"],
                          first["backbone.reg_tokens"] + first["backbone.pos_embed_reg"])

    # the same graphs with one stem weight changed, as a leg that fine-tuned the stem would export
    import onnx
    from onnx import numpy_helper

    for source, target in ((exported, tmp_path / "tuned.onnx"),
                           (tmp_path / "leg1.templates.onnx", tmp_path / "tuned.templates.onnx")):
        proto = onnx.load(str(source))
        stem = next(init for init in proto.graph.initializer if ".patch_embed.stem." in init.name)
        stem.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(stem) + np.float32(0.01), stem.name))
        onnx.save(proto, str(target))
    fresh = build_demo_model(TINY_CONFIG, pretrained=False)
    with pytest.raises(ValueError, match="fine-tuned stem"):
        weights_from_onnx(tmp_path / "tuned.onnx", fresh)


def test_nanotrack_stem_equals_the_onnx_backbone_on_rgb_input():
    """The rebuilt stem gives NanoTrack's own features (ONNX Runtime on the BGR crop) from the RGB crop."""
    import onnxruntime as ort

    from mixformerv2_ros.training.nanotrack_stem import DEFAULT_BACKBONE, nanotrack_stem

    bgr = np.random.default_rng(0).integers(0, 256, (1, 3, 255, 255)).astype(np.float32)
    reference = ort.InferenceSession(str(DEFAULT_BACKBONE)).run(None, {"input": bgr})[0]
    stem = nanotrack_stem()
    with torch.no_grad():
        features = stem(torch.from_numpy(bgr[:, ::-1].copy())).numpy()
        batched = stem(torch.zeros(3, 3, 224, 224))
    assert features.shape == reference.shape == (1, 48, 16, 16)
    assert np.abs(features - reference).max() < 1e-4 * np.abs(reference).max()
    assert batched.shape == (3, 48, 14, 14)  # any batch and crop size, stride 16
    assert not any(p.requires_grad for p in stem.parameters())


def test_nanotrack_stem_refuses_unknown_graphs(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from mixformerv2_ros.training.nanotrack_stem import load_onnx_chain, nanotrack_stem

    graph = helper.make_graph([helper.make_node("Softmax", ["input"], ["out"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])])
    onnx.save(helper.make_model(graph), tmp_path / "odd.onnx")
    with pytest.raises(ValueError, match="operator Softmax is not supported"):
        load_onnx_chain(tmp_path / "odd.onnx")
    with pytest.raises(RuntimeError, match="not found"):
        nanotrack_stem(tmp_path / "missing.onnx")


def test_the_stem_splits_before_its_last_blocks_and_the_two_halves_give_its_output():
    from mixformerv2_ros.training.nanotrack_stem import nanotrack_stem

    stem = nanotrack_stem()
    images = torch.rand(2, 3, 224, 224) * 255
    with torch.no_grad():
        whole = stem(images)
        starts = []
        for blocks in (1, 2, 3):
            start = stem.last_blocks_start(blocks)
            starts.append(start)
            assert torch.equal(stem(stem.run_until(images, start), start=start), whole)
    assert starts[0] > starts[1] > starts[2] > 0
    # two blocks: NanoTrack's stages 7 and 8, about 51 K of its 188 K weights
    assert 40_000 < sum(p.numel() for p in stem.tail_parameters(starts[1])) < 60_000
    with pytest.raises(ValueError, match="blocks must be"):
        stem.last_blocks_start(0)
    with pytest.raises(ValueError, match="cannot be split"):
        stem.tail_input(stem.last_blocks_start(1) + 1)  # inside a block: the residual reads two values


def test_cli_fine_tunes_the_stems_last_blocks_and_exports_them(shared_dir, tmp_path):
    """--stem-blocks 1: features are cached before the last stem block, that block learns at its own
    (smaller) rate, the rest of the stem stays as it was, and the export carries the tuned block."""
    from mixformerv2_ros.training import train

    args = ["--data", str(shared_dir / "data"), "--work", str(tmp_path), "--pairs", "16", "--val-pairs", "8",
            "--train-clips", "boat1", "--heldout-clips", "car16_1", "--batch", "4", "--no-pretrained",
            "--config", json.dumps(TINY), "--stem-blocks", "1", "--stem-lr-scale", "0.5", "--lr", "1e-3"]
    assert train.main(args + ["--max-steps", "2", "--export", str(tmp_path / "demo.onnx")]) == 0
    cache = next(tmp_path.glob("train-*-before*.pt"))
    features = torch.load(cache, weights_only=True)["search"]
    assert features.shape[1:] == (48, 4, 4)  # the last block's input: 48 channels, stride 16

    fresh = build_demo_model(TINY_CONFIG, pretrained=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    stem = fresh.backbone.patch_embed.stem
    start = stem.last_blocks_start(1)
    tail = {id(p) for p in stem.tail_parameters(start)}
    moved = {name for name, param in stem.named_parameters()
             if not torch.equal(state["model"][f"backbone.patch_embed.stem.{name}"], param)}
    assert moved and moved == {name for name, param in stem.named_parameters() if id(param) in tail}
    groups = state["optimizer"]["param_groups"]
    assert [g["lr_scale"] for g in groups] == [1.0, 0.5]
    assert groups[1]["lr"] == pytest.approx(0.5 * groups[0]["lr"])

    import onnx
    from onnx import numpy_helper

    exported = [numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / "demo.onnx")).graph.initializer]
    for name in moved:  # every tuned weight ships in the graph as trained
        trained = state["model"][f"backbone.patch_embed.stem.{name}"].numpy()
        candidates = (trained, trained.T) if trained.ndim == 2 else (trained,)  # a Gemm may export as MatMul
        assert any(w.shape == c.shape and np.allclose(w, c) for w in exported for c in candidates), name


def test_cli_resumes_a_checkpoint_from_before_per_group_rates_and_takes_a_narrow_trainable(shared_dir, tmp_path):
    from mixformerv2_ros.training import train

    args = ["--data", str(shared_dir / "data"), "--work", str(tmp_path), "--pairs", "16", "--val-pairs", "0",
            "--train-clips", "boat1", "--batch", "4", "--no-pretrained", "--config", json.dumps(TINY)]
    assert train.main(args + ["--max-steps", "1"]) == 0
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    for group in state["optimizer"]["param_groups"]:  # as saved before --stem-blocks existed
        del group["lr_scale"]
    torch.save(state, tmp_path / "checkpoint.pt")
    assert train.main(args + ["--max-steps", "2"]) == 0
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 2
    # --trainable without the stem: --stem-blocks then adds no (empty) parameter group
    narrow = args[:3] + [str(tmp_path / "narrow")] + args[4:]
    assert train.main(narrow + ["--max-steps", "1", "--stem-blocks", "1", "--trainable", "score_head"]) == 0
    groups = torch.load(tmp_path / "narrow" / "checkpoint.pt", weights_only=True)["optimizer"]["param_groups"]
    assert len(groups) == 1


def test_dense_aux_loss_rewards_a_heat_map_on_the_target_and_nothing_on_negatives():
    from mixformerv2_ros.training.dense_aux import dense_aux_loss

    grid = 14
    boxes = torch.tensor([[0.52, 0.31, 0.2, 0.1], [0.0, 0.0, 0.0, 0.0]])
    labels = torch.tensor([1.0, 0.0])
    size = torch.full((2, 4, grid, grid), 0.5)
    flat = torch.full((2, grid, grid), -4.0)
    right = flat.clone()
    right[0, int(0.31 * grid), int(0.52 * grid)] = 4.0  # the token holding the centre
    wrong = flat.clone()
    wrong[0, 2, 12] = 4.0
    loss_right, parts = dense_aux_loss(right, size, boxes, labels)
    loss_wrong, _ = dense_aux_loss(wrong, size, boxes, labels)
    assert loss_right < loss_wrong and set(parts) == {"aux_heat", "aux_size"}
    on_negative = flat.clone()
    on_negative[1, 5, 5] = 4.0  # a peak where the negative pair has no target
    assert dense_aux_loss(on_negative, size, boxes, labels)[0] > dense_aux_loss(flat, size, boxes, labels)[0]
    exact = size.clone()
    exact[0, :, int(0.31 * grid), int(0.52 * grid)] = torch.tensor([0.2, 0.1, 0.52 * grid % 1, 0.31 * grid % 1])
    assert dense_aux_loss(flat, exact, boxes, labels)[1]["aux_size"] < 1e-6


def test_dense_aux_head_reads_the_models_own_search_tokens_and_is_not_exported(tmp_path):
    from mixformerv2_ros.training.dense_aux import DenseAuxHead, search_tokens

    torch.manual_seed(0)
    model = build_demo_model(TINY_CONFIG, pretrained=False).eval()
    template, online = torch.randn(2, 48, 2, 2), torch.randn(2, 48, 2, 2)
    search = torch.randn(2, 48, 4, 4)
    outputs, tokens = search_tokens(model, template, online, search)
    assert tokens.shape == (2, 16, TINY["embed_dim"])
    assert torch.equal(outputs["boxes_cxcywh"], model(template, online, search)["boxes_cxcywh"])
    heat, size = DenseAuxHead(TINY["embed_dim"], 4)(tokens)
    assert heat.shape == (2, 4, 4) and size.shape == (2, 4, 4, 4) and bool(((size > 0) & (size < 1)).all())
    assert not any("aux" in name for name in model.state_dict())


def test_nanotrack_teacher_grid_puts_its_centre_cell_between_the_two_middle_tokens():
    """Teacher cell 8 of 16 is the 255-crop's centre (OpenCV TrackerNano's decoding grid); on the
    ViT's 14x14 grid that centre lies halfway between tokens 6 and 7, so a map lit only there
    must read the same on both and fall off symmetrically."""
    import torch.nn.functional as F

    from mixformerv2_ros.training.nanotrack_teacher import _sample_grid

    fg = torch.zeros(1, 1, 16, 16)
    fg[0, 0, 8, 8] = 1.0
    resampled = F.grid_sample(fg, _sample_grid(16, 14), mode="bilinear", align_corners=True)[0, 0].numpy()
    assert resampled[6, 6] == pytest.approx(resampled[7, 7], rel=1e-4) and resampled[6, 6] > 0.1
    assert resampled[6, 6] == pytest.approx(resampled[6, 7], rel=1e-4) == pytest.approx(resampled[7, 6], rel=1e-4)
    assert resampled.argmax() // 14 in (6, 7) and resampled[0].max() == 0.0


def test_nanotrack_teacher_lights_up_the_target_on_real_pairs(shared_dir):
    """NanoTrack's foreground map on our own crops peaks on the labelled target: the soft target
    is aligned with the boxes the network learns."""
    from mixformerv2_ros.training.features import _to_input
    from mixformerv2_ros.training.nanotrack_teacher import NanoTrackTeacher

    torch.set_num_threads(1)
    data = shared_dir / "data"
    synth = PairSynthesizer(DEMO_CONFIG, [data / "uav_dev" / name for name in ("boat1", "car16_1")],
                            negative_share=0.0, seed=5)
    pairs = [synth.sample() for _ in range(24)]
    stem = build_demo_model(DEMO_CONFIG).backbone.patch_embed.stem
    grid = DEMO_CONFIG.search_size // DEMO_CONFIG.patch_size
    maps = NanoTrackTeacher(stem, grid)(_to_input([p.template for p in pairs], DEMO_CONFIG.mean, DEMO_CONFIG.std),
                                        _to_input([p.search for p in pairs], DEMO_CONFIG.mean, DEMO_CONFIG.std))
    assert maps.shape == (24, grid, grid) and float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0
    distances = []
    for pair, fg in zip(pairs, maps):
        row, col = divmod(int(fg.argmax()), grid)
        cx, cy = pair.box_cxcywh[:2] * grid
        distances.append(np.hypot(col + 0.5 - cx, row + 0.5 - cy))
    assert np.median(distances) < 1.0 and np.mean(np.array(distances) < 2.0) >= 0.75


def test_distillation_trains_a_head_that_is_kept_in_the_checkpoint_and_left_out_of_the_export(shared_dir, tmp_path):
    from pathlib import Path

    import onnx

    import mixformerv2_ros
    from mixformerv2_ros.training import train

    args = ["--data", str(shared_dir / "data"), "--work", str(tmp_path), "--pairs", "16", "--val-pairs", "8",
            "--train-clips", "boat1", "--heldout-clips", "car16_1", "--batch", "4", "--log-every", "1",
            "--config", json.dumps(TINY), "--distill-weight", "1"]
    with pytest.raises(SystemExit, match="NanoTrack stem"):
        train.main(args + ["--no-pretrained", "--max-steps", "1"])
    out = tmp_path / "demo.onnx"
    assert train.main(args + ["--max-steps", "2", "--export", str(out)]) == 0
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(record["train_distill"] > 0 for record in records)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert "distill_head" in state and not any("distill" in name for name in state["model"])
    # a next leg carries the distillation head on, as it does the dense head
    assert train.main(args + ["--work", str(tmp_path / "next"), "--init-from", str(tmp_path / "checkpoint.pt"),
                              "--max-steps", "1", "--lr", "0"]) == 0
    carried = torch.load(tmp_path / "next" / "checkpoint.pt", weights_only=True)["distill_head"]
    assert all(torch.equal(carried[name], value) for name, value in state["distill_head"].items())
    assert any(p.name.startswith("train-") and "-teacher-" in p.name for p in tmp_path.iterdir())
    shipped = Path(mixformerv2_ros.__file__).parent / "models" / "demo.onnx"
    # the exported network is the plain MixFormerV2: the same outputs as the shipped model's
    assert [o.name for o in onnx.load(out).graph.output] == [o.name for o in onnx.load(shipped).graph.output]


def test_parallel_pair_batches_are_the_same_for_any_worker_count(shared_dir):
    """Batch k is drawn from its own seed, so two workers give one worker's pairs, in order (and
    not the one-stream recipe's); the last batch is short."""
    import functools

    from mixformerv2_ros.training.features import parallel_pair_batches, sequential_pair_batches

    make = functools.partial(PairSynthesizer, TINY_CONFIG, [shared_dir / "data" / "uav_dev" / "boat1"],
                             negative_share=0.3, seed=3)
    one = list(parallel_pair_batches(make, 5, 40, workers=1, batch=16))
    two = list(parallel_pair_batches(make, 5, 40, workers=2, batch=16))
    assert [len(b) for b in one] == [len(b) for b in two] == [16, 16, 8]
    for a, b in zip(sum(one, []), sum(two, [])):
        assert np.array_equal(a.search, b.search) and np.array_equal(a.box_cxcywh, b.box_cxcywh)
        assert a.label == b.label
    stream = sum(sequential_pair_batches(make(), 40, 16), [])
    assert not all(np.array_equal(a.search, b.search) for a, b in zip(stream, sum(one, [])))
    with pytest.raises(ValueError, match="at least 1"):
        next(parallel_pair_batches(make, 5, 40, workers=0))


def _small_data(shared_dir, root: Path) -> tuple[Path, Path]:
    """A data folder (uav_dev boat1 and car16_1, 12 still images) and an extra-clips folder
    (wakeboard10, person12_1) made of links to ../shared."""
    data, extra = root / "data", root / "extra"
    (data / "uav_dev").mkdir(parents=True)
    (data / "imagenet_samples").mkdir()
    for name in ("boat1", "car16_1"):
        (data / "uav_dev" / name).symlink_to(shared_dir / "data" / "uav_dev" / name)
    for image in sorted((shared_dir / "data" / "imagenet_samples").glob("*.jpg"))[:12]:
        (data / "imagenet_samples" / image.name).symlink_to(image)
    extra.mkdir()
    for name in ("wakeboard10", "person12_1"):
        (extra / name).symlink_to(shared_dir / "data" / "uav_dev" / name)
    return data, extra


def test_bundle_keeps_every_kth_frame_leaves_held_out_clips_out_and_fills_parts(shared_dir, tmp_path):
    from mixformerv2_ros.training.bundle import _size_mb, pack

    data, extra = _small_data(shared_dir, tmp_path)
    out = tmp_path / "b"
    held_out = {"car16_1", "person12_1"}
    pack(out, extra, data, shared_dir / "models", ["boat1"], held_out, quality=70, step=3)
    fixed = _size_mb(out) - _size_mb(out / "clips")  # graphs, images, the uav_dev clip
    record = pack(out, extra, data, shared_dir / "models", ["boat1"], held_out, quality=70, step=3,
                  part_mb=(fixed + 0.01, 100.0))  # no room for wakeboard10 in the first part
    assert record["clips"] == ["boat1", "wakeboard10"] and record["frame_step"] == 3
    assert record["parts"] == {"b.2": ["wakeboard10"]}
    assert json.loads((out / "BUNDLE.json").read_text()) == record
    assert not (out / "clips" / "wakeboard10").exists()
    for src, dst in ((shared_dir / "data" / "uav_dev" / "boat1", out / "shared" / "data" / "uav_dev" / "boat1"),
                     (extra / "wakeboard10", tmp_path / "b.2" / "clips" / "wakeboard10")):
        lines = (src / "groundtruth.txt").read_text().splitlines()
        frames = sorted((src / "img").iterdir())
        kept = sorted((dst / "img").iterdir())
        assert [p.name for p in kept] == [p.name for p in frames[::3]]
        assert (dst / "groundtruth.txt").read_text().splitlines() == lines[::3]
    assert len(list((out / "shared" / "data" / "imagenet_samples").glob("*.jpg"))) == 12
    assert (out / "shared" / "models" / "nanotrack_v2" / "nanotrack_backbone_sim.onnx").is_file()


def test_gpu_train_script_trains_two_runs_on_one_cache_from_a_bundle_in_parts(shared_dir, tmp_path):
    """scripts/gpu_train.sh, as a GPU call runs it, here on the CPU: the later part's clips join
    the bundle, the feature cache is built once, both runs train on it and leave their graphs,
    their weights (which --init-from takes) and their logs."""
    import os
    import subprocess
    import sys

    from mixformerv2_ros.training import train
    from mixformerv2_ros.training.bundle import pack

    data, extra = _small_data(shared_dir, tmp_path)
    bundle = tmp_path / "b"
    pack(bundle, extra, data, shared_dir / "models", ["boat1"], {"car16_1", "person12_1"}, quality=70,
         step=4, part_mb=(0.0, 100.0))  # every extra clip to the second part
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "BUNDLE": str(bundle), "OUT": str(tmp_path / "out"), "WORK_DIR": str(tmp_path / "work"),
           "DEVICE": "cpu", "PYTHON": sys.executable,
           "TRAIN_ARGS": f"--no-pretrained --config {json.dumps(TINY, separators=(',', ':'))} --train-clips boat1 "
                         "--heldout-clips car16_1,person12_1 --pairs 48 --batch 4 --max-steps 2 --threads 1"}
    done = subprocess.run(["bash", str(repo / "scripts" / "gpu_train.sh"), "a", "--lr", "1e-3", "--", "b", "--lr",
                           "5e-4"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bundle: 1 clips" in done.stdout
    caches = list((tmp_path / "work" / "cache").glob("train-*.pt"))
    assert len(caches) == 1
    for run in ("a", "b"):
        log = (tmp_path / "out" / run / "train.log").read_text()
        assert "training clips (2): boat1,wakeboard10" in log and "encoded" not in log  # the shared cache
        assert (tmp_path / "work" / run / caches[0].name).resolve() == caches[0].resolve()
        assert (tmp_path / "out" / run / "demo.onnx").is_file()
        weights = torch.load(tmp_path / "out" / run / "weights.pt", weights_only=True)
        assert weights["step"] == 2 and "optimizer" not in weights and "aux_head" in weights
    assert train.main(["--data", str(data), "--work", str(tmp_path / "next"), "--train-clips", "boat1",
                       "--heldout-clips", "car16_1", "--pairs", "16", "--val-pairs", "0", "--batch", "4",
                       "--max-steps", "1", "--no-pretrained", "--config", json.dumps(TINY),
                       "--init-from", str(tmp_path / "out" / "a" / "weights.pt")]) == 0


def test_online_gap_draws_the_online_template_near_the_search_frame(shared_dir):
    """With online_gap the search frame is within max_gap of the template's and the online template
    within online_gap of the search frame, as when tracking; without it both are drawn near the
    template, as the legs were trained."""
    clip = shared_dir / "data" / "uav_dev" / "building4"

    def drawn_frames(**gaps):
        synth = PairSynthesizer(TINY_CONFIG, [clip], seed=7, **gaps)
        frames = list(synth.clips[0][0])
        synth._frame = frames.index  # the frame's index instead of its pixels
        return [[view for view, _ in synth._clip_views()] for _ in range(300)]

    tracking_like = drawn_frames(max_gap=200, online_gap=10)
    assert all(abs(s - t) <= 200 and abs(o - s) <= 10 for t, o, s in tracking_like)
    assert max(abs(s - t) for t, _, s in tracking_like) > 100  # the long gaps are drawn
    legs = drawn_frames()
    assert all(abs(o - t) <= 60 and abs(s - t) <= 60 for t, o, s in legs)
    assert max(abs(o - s) for t, o, s in legs) > 10
    with pytest.raises(ValueError, match="online_gap"):
        PairSynthesizer(TINY_CONFIG, [clip], online_gap=-1)
