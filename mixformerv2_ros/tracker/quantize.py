"""Low-precision CPU paths: int8 versions of the exported per-frame graph for ONNX Runtime.

* ``int8`` (dynamic): weights of the MatMul/Gemm layers become int8 (per output channel);
  activations are quantised on the fly per frame, so no calibration data is needed.
* ``int8-static`` (QDQ): weights and activations of MatMul/Gemm are int8 with fixed
  activation ranges calibrated on real search crops (the gate clip's, cut along the fp32
  track), which saves the per-frame range computation of the dynamic path.

The template graph stays fp32 (it runs only when the templates change), and so does the patch
embedding (``patch_embedding_nodes``). ONNX Runtime then uses
the CPU's int8 dot-product units. Whether a path may be used for a model is decided by the
accuracy gate in ``precision``, never here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mixformerv2_ros.model.config import templates_path_for


def _copy_metadata(step_path, out_path, precision) -> Path:
    import onnx

    source_meta = {p.key: p.value for p in onnx.load(str(step_path), load_external_data=False).metadata_props}
    quantized = onnx.load(str(out_path))
    del quantized.metadata_props[:]
    for key, value in (source_meta | {"mixformerv2.precision": f'"{precision}"'}).items():
        quantized.metadata_props.add(key=key, value=value)
    onnx.save(quantized, str(out_path))
    shutil.copyfile(templates_path_for(step_path), templates_path_for(out_path))
    return Path(out_path)


def patch_embedding_nodes(step_path) -> list[str]:
    """Nodes of the patch embedding (a convolutional stem, or the patch projection).

    They stay fp32: the embedding runs once per crop on few channels, so int8 saves little
    there, and its rounding feeds every later layer (with the NanoTrack stem quantised, the
    shipped model's track drifted off the target on the gate clip; without it, it did not).
    """
    import onnx

    graph = onnx.load(str(step_path), load_external_data=False).graph
    return [node.name for node in graph.node if "patch_embed/" in node.name]


def quantize_dynamic_int8(step_path, out_path) -> Path:
    """Write a dynamic-int8 copy of ``step_path`` (and its template graph) to ``out_path``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(step_path), str(out_path), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=patch_embedding_nodes(step_path))
    return _copy_metadata(step_path, out_path, "int8")


def calibration_inputs(step_path, frames, box) -> list[dict]:
    """The per-frame graph's inputs along the fp32 track of ``frames`` from ``box``.

    Each entry is what ``predict`` feeds the graph: the normalised search crop around the prior
    and the template cache of the first frame's box.
    """
    from mixformerv2_ros.tracker.backends import OnnxRuntimeBackend
    from mixformerv2_ros.tracker.crop import CropExtractor, Normalizer
    from mixformerv2_ros.tracker.settings import TrackerSettings
    from mixformerv2_ros.tracker.tracker import Tracker

    backend = OnnxRuntimeBackend(step_path)
    config = backend.config
    tracker = Tracker(backend, TrackerSettings(lost_threshold=0.0))
    tracker.initialize(frames[0], box)
    cache = backend._cache_array
    normalize, extract = Normalizer(config.mean, config.std), CropExtractor()
    inputs = []
    for frame in frames[1:]:
        search = normalize(extract(frame, tracker.search_window(), config.search_size), True)
        inputs.append({"search": search, "template_cache": cache})
        tracker.track(frame)
    backend.close()
    return inputs


def quantize_static_int8(step_path, out_path, frames, box) -> Path:
    """Write a QDQ int8 copy of ``step_path`` calibrated on search crops of ``frames``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, inputs):
            self._inputs = iter(inputs)

        def get_next(self):
            return next(self._inputs, None)

    inputs = calibration_inputs(step_path, frames, box)
    quantize_static(str(step_path), str(out_path), Reader(inputs), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=patch_embedding_nodes(step_path),
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    return _copy_metadata(step_path, out_path, "int8-static")

