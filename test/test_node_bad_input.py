"""Hundreds of malformed or hostile inputs leave the node alive, answering, and tracking."""

import math
import threading

import cv2
import numpy as np
import pytest

from node_test_utils import Camera, NodeOutputs, clip_frames, init_request
from ros_harness import wait_until

pytestmark = pytest.mark.ros


def _bad_images():
    from sensor_msgs.msg import Image

    good = dict(height=36, width=64, encoding="bgr8", step=64 * 3)
    cases = []
    for encoding in ("yuv422", "bayer_rggb8", "32FC1", "", "BGR8", "rgb16", "\u00e9\u00e9", "jpeg"):
        cases.append(("unknown encoding", {**good, "encoding": encoding}, 64 * 36 * 3))
    for step in (0, 1, 64 * 3 - 1, 63):
        cases.append(("step smaller than a row", {**good, "step": step}, 64 * 36 * 3))
    for size in (0, 1, 100, 64 * 36 * 3 - 1):
        cases.append(("truncated", good, size))
    for h, w in ((0, 64), (36, 0), (0, 0), (100000, 64), (36, 100000), (2**31 - 1, 2**31 - 1)):
        cases.append(("zero or huge", {**good, "height": h, "width": w, "step": max(w, 0) * 3}, 64))
    cases.append(("mono16 odd", {**good, "encoding": "mono16", "step": 64}, 64 * 36))
    images = []
    for _, fields, size in cases:
        msg = Image(**fields)
        msg.data = bytes(size)
        images.append(msg)
    return images


def _bad_boxes(image_width=640, image_height=360):
    nan, inf = math.nan, math.inf
    return [(nan, 10, 20, 20), (10, nan, 20, 20), (10, 10, nan, 20), (10, 10, 20, inf), (-inf, 0, 5, 5),
            (10, 10, 0, 20), (10, 10, 20, 0), (10, 10, -5, 20), (10, 10, 20, -1), (0, 0, 0, 0),
            (image_width + 5, 10, 20, 20), (10, image_height + 1, 20, 20), (-100, -100, 50, 50),
            (-1e12, 5, 10, 10), (1e300, 1e300, 1e300, 1e300)]


def test_hostile_inputs(start_ros_executable, ros_node, golden_dir, uav_dev_dir):
    from mixformerv2_ros.msg import TrackerStatus
    from mixformerv2_ros.srv import InitTarget
    from sensor_msgs.msg import CompressedImage

    model = str(golden_dir / "mixformerv2_small_d1.pth.tar")
    node = start_ros_executable("tracker_node", params={"model_path": model, "reliability": "reliable",
                                                        "lost_threshold": 0.0, "precision": "fp32"})
    compressed_node = start_ros_executable(
        "tracker_node", params={"model_path": model, "reliability": "reliable", "use_compressed": True,
                                "precision": "fp32"},
        ros_args=["-r", "__node:=compressed_tracker"])
    outputs = NodeOutputs(ros_node)
    compressed_outputs = NodeOutputs(ros_node, "/compressed_tracker")
    camera = Camera(ros_node)
    jpeg_camera = Camera(ros_node, topic="/image/compressed", compressed=True)
    init = ros_node.node.create_client(InitTarget, "/mixformerv2_tracker/init")
    # Init before any frame.
    responses = [ros_node.call(init, init_request((10, 10, 20, 20)), timeout=60.0, retry_after=5.0)]
    assert not responses[-1].success and "no image" in responses[-1].message
    frames, boxes = clip_frames(uav_dev_dir, "car16_1", 3)
    camera.wait_for_node()
    jpeg_camera.wait_for_node()
    # Both directions discovered before we count anything.
    camera.send_first(outputs, frames[0])
    jpeg_camera.send_first(compressed_outputs, frames[0])

    # Malformed raw images, as a broken camera would send them at 25 Hz (the subscription keeps
    # only the newest message, by design, so a burst would reach the node as its last message).
    sent = 0
    bad_images = _bad_images()
    pace = threading.Event()
    for round_ in range(6):
        for msg in bad_images:
            camera.publish(msg)
            sent += 1
            pace.wait(0.04)
            if sent % 20 == 0:
                marker = camera.publish_bgr(frames[0])  # a good frame as a pacing marker
                wait_until(lambda: outputs.status_for(marker) is not None, 20.0,
                           message=f"node stopped processing after {sent} bad images\n{node.log()}")
    # Corrupt compressed images to the compressed-input node, at 50 Hz; rounds of them until both
    # kinds of reason are logged (a round sent while the node is stalled can be lost whole).
    ok, jpeg = cv2.imencode(".jpg", frames[0])
    corrupt = [b"", b"\xff\xd8\xff", jpeg.tobytes()[: len(jpeg) // 3], bytes(1000),
               b"\x89PNG\r\n\x1a\n" + bytes(50), np.random.default_rng(0).bytes(5000)]

    def corrupt_round():
        nonlocal sent
        for data in corrupt * 5:
            jpeg_camera.publish(CompressedImage(format="jpeg", data=data))
            sent += 1
            pace.wait(0.02)
        log = compressed_node.log()
        return "cannot decode" in log and "empty compressed" in log

    wait_until(corrupt_round, 60.0, interval=0.0, message=f"reasons not logged\n{compressed_node.log()}")
    images_sent = sent

    # Init requests with bad boxes and bad request images, also while frames are being processed.
    header = _send_good(camera, outputs, frames[1])
    stop_streaming = threading.Event()

    def stream():
        while not stop_streaming.wait(0.03):  # ~30 fps of good frames while inits arrive
            camera.publish_bgr(frames[2])

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        for box in _bad_boxes():
            for stamp_header in (None, header):
                responses.append(ros_node.call(init, init_request(box, stamp_header), timeout=20.0))
        # (an image with zero width or height means "no image": the node then uses its frames)
        request_images = [m for m in bad_images if m.width > 0 and m.height > 0]
        for msg in request_images:
            responses.append(ros_node.call(init, init_request(boxes[0], image_msg=msg), timeout=20.0))
        # A valid init while frames stream in: accepted.
        good = ros_node.call(init, init_request(boxes[2]), timeout=20.0)
    finally:
        stop_streaming.set()
        streamer.join()
    assert good.success, good.message

    bad = responses
    assert len(bad) == 1 + 2 * len(_bad_boxes()) + len(request_images)
    for response in bad:
        assert not response.success
        assert response.source == InitTarget.Response.SOURCE_NONE
        assert len(response.message) > 10, "each refusal says why"
    reasons = " | ".join(r.message for r in bad)
    for expected in ("non-finite", "empty", "outside", "unsupported encoding", "truncated", "step"):
        assert expected in reasons, expected
    total = sent + len(bad)
    assert total >= 200, total

    # Still alive, answering, and tracking the next good frame.
    assert node.alive() and compressed_node.alive(), node.log() + compressed_node.log()
    after = _send_good(camera, outputs, frames[2])
    detections = outputs.detections_for(after)
    assert len(detections) == 1 and outputs.status_for(after).state == TrackerStatus.STATE_TRACKING
    assert all(math.isfinite(v) for v in (detections[0].bbox.center.position.x, detections[0].bbox.size_x))
    ok_jpeg = jpeg_camera.publish(CompressedImage(format="jpeg", data=jpeg.tobytes()))
    wait_until(lambda: compressed_outputs.status_for(ok_jpeg) is not None, 20.0,
               message="compressed node did not process a good JPEG")

    # Every init refusal and every received frame is accounted for: a received frame was
    # processed, skipped (a newer one came first) or rejected. Frames the subscription's depth-1
    # history replaced before the node took them (bursts, a stalled process) never reach it.
    def counts(o):
        return {key: int(o.diagnostic_value(key) or 0) for key in
                ("frames_received", "frames_processed", "frames_skipped", "frames_rejected", "inits_refused")}

    def accounted(o):
        c = counts(o)
        return c["frames_received"] == c["frames_processed"] + c["frames_skipped"] + c["frames_rejected"]

    wait_until(lambda: accounted(outputs) and accounted(compressed_outputs)
               and counts(outputs)["inits_refused"] >= len(bad), 10.0,  # more if the first was resent
               message=f"diagnostics: {counts(outputs)} and {counts(compressed_outputs)}, {len(bad)} inits refused")
    rejected = counts(outputs)["frames_rejected"] + counts(compressed_outputs)["frames_rejected"]
    assert rejected >= 0.25 * images_sent, f"only {rejected} of {images_sent} bad images reached the nodes"
    log = node.log()
    for expected in ("unsupported encoding", "smaller than a row", "truncated", "init refused"):
        assert expected in log, f"no logged reason {expected!r}"
    assert "cannot decode" in compressed_node.log() and "empty compressed" in compressed_node.log()


def _send_good(camera, outputs, image):
    header = camera.publish_bgr(image)
    wait_until(lambda: outputs.status_for(header) is not None, 20.0, message="good frame not processed")
    return header
