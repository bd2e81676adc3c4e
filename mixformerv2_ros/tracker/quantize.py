"""Optional int8 CPU path: dynamic int8 quantisation of the exported per-frame graph.

Weights of the MatMul/Gemm layers become int8 (per output channel); activations are quantised
on the fly per frame, so no calibration data is needed. The template graph stays fp32 (it runs
only when the templates change). ONNX Runtime then uses the CPU's int8 dot-product units.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mixformerv2_ros.model.config import templates_path_for


def quantize_dynamic_int8(step_path, out_path) -> Path:
    """Write an int8 copy of ``step_path`` (and its template graph) to ``out_path``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    step_path, out_path = Path(step_path), Path(out_path)
    quantize_dynamic(str(step_path), str(out_path), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gemm"])
    source_meta = {p.key: p.value for p in onnx.load(str(step_path), load_external_data=False).metadata_props}
    quantized = onnx.load(str(out_path))
    del quantized.metadata_props[:]
    for key, value in (source_meta | {"mixformerv2.precision": '"int8"'}).items():
        quantized.metadata_props.add(key=key, value=value)
    onnx.save(quantized, str(out_path))
    shutil.copyfile(templates_path_for(step_path), templates_path_for(out_path))
    return out_path
