"""Inference backends: one small interface over ONNX Runtime and PyTorch (CPU or CUDA).

A backend holds the template cache: ``set_templates`` runs when the templates change,
``predict`` runs every frame on the search crop. Inputs are float32 N=1 x 3 x S x S arrays,
already normalised. Importing this module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixformerv2_ros.model.config import ModelConfig, templates_path_for


@dataclass(frozen=True)
class Prediction:
    box_cxcywh: np.ndarray  # (4,) float64, fractions of the search crop
    score: float            # confidence after the sigmoid, 0..1
    score_logit: float


def _prediction(boxes, score_logit) -> Prediction:
    logit = float(np.asarray(score_logit).reshape(-1)[0])
    return Prediction(np.asarray(boxes, dtype=np.float64).reshape(-1)[:4].copy(),
                      float(1.0 / (1.0 + np.exp(-logit))), logit)


class InferenceBackend(ABC):
    """What the tracker needs from a network: template cache in, one prediction per frame out."""

    config: ModelConfig
    name: str = "backend"
    #: The numeric path that runs: one of ``CPU_PATHS`` for exported graphs; fp32, fp16, bf16 (torch).
    precision: str = "fp32"
    #: With ``precision="auto"`` (ONNX Runtime): the accuracy gate's ``PrecisionChoice``.
    precision_choice = None

    @abstractmethod
    def set_templates(self, template: np.ndarray, online_template: np.ndarray) -> None:
        """Compute and keep the template cache (static + online template crops)."""

    @abstractmethod
    def predict(self, search: np.ndarray) -> Prediction:
        """Box and confidence for one search crop, using the kept template cache."""

    def predict_batch(self, searches: np.ndarray) -> list[Prediction]:
        """Boxes and confidences for N search crops (N x 3 x S x S) against the same templates.

        This default runs them one by one; backends that can batch do it in one call.
        """
        return [self.predict(search[None]) for search in searches]

    def close(self) -> None:
        """Free the model (and device memory)."""


def physical_cores(sysfs_cpu_dir="/sys/devices/system/cpu") -> int:
    """Physical cores among the CPUs this process may use (affinity, cgroup cpusets).

    Two GEMM threads on SMT siblings of one core only compete for its vector units, and
    ONNX Runtime's own default ignores the affinity mask (oversubscribes in containers).
    """
    allowed = os.sched_getaffinity(0)
    cores = set()
    for cpu in allowed:
        topology = Path(sysfs_cpu_dir) / f"cpu{cpu}" / "topology"
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return max(1, len(allowed))  # no topology (not Linux sysfs): count logical CPUs
    return max(1, len(cores))


def cpu_description(cpuinfo="/proc/cpuinfo") -> str:
    """CPU model and the vector extensions that decide which low-precision path can win.

    The same binary runs on machines with and without AVX-512, VNNI, bf16 or AMX; figures mean
    little without knowing which one ran them.
    """
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return "CPU unknown"
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    return f"{name} ({' '.join(f for f in wanted if f in flags) or 'no AVX2'})"


def _exported_graphs(step_path, template_path=None) -> tuple[Path, Path]:
    """The per-frame and template graphs of an export (the template one found beside the step one)."""
    step_path = Path(step_path)
    template_path = Path(template_path) if template_path else templates_path_for(step_path)
    for path in (step_path, template_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file (export with mixformerv2-export)")
    return step_path, template_path


class OnnxRuntimeBackend(InferenceBackend):
    """The exported graphs in ONNX Runtime on the CPU; needs no torch and no config file."""

    name = "onnxruntime"

    def __init__(self, step_path, template_path=None, threads: int | None = None):
        import onnxruntime as ort

        step_path, template_path = _exported_graphs(step_path, template_path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads or physical_cores()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No busy-waiting between operators: on a robot the tracker shares the CPU with other
        # nodes, and spinning threads measured here doubled the step time under such load.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        try:
            self._templates = ort.InferenceSession(str(template_path), options, providers=providers)
            self._step = ort.InferenceSession(str(step_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"cannot load ONNX model {step_path}: {exc}") from exc
        self.config = ModelConfig.from_metadata(self._step.get_modelmeta().custom_metadata_map)
        self._binding = self._step.io_binding()
        for output in ("boxes_cxcywh", "score_logit"):
            self._binding.bind_output(output, "cpu")
        self._has_cache = False
        search_input = next(i for i in self._step.get_inputs() if i.name == "search")
        # graphs exported before the batch axis was freed take one crop per call
        self._batches = not isinstance(search_input.shape[0], int)

    def set_templates(self, template, online_template):
        import onnxruntime as ort

        (cache,) = self._templates.run(["template_cache"], {
            "template": np.ascontiguousarray(template, dtype=np.float32),
            "online_template": np.ascontiguousarray(online_template, dtype=np.float32)})
        # Bound once, reused by every frame until the templates change.
        self._cache_array = cache
        self._cache = ort.OrtValue.ortvalue_from_numpy(cache)
        self._binding.bind_ortvalue_input("template_cache", self._cache)
        self._has_cache = True

    def predict(self, search):
        if not self._has_cache:
            raise RuntimeError("set_templates() must be called before predict()")
        self._binding.bind_cpu_input("search", np.ascontiguousarray(search, dtype=np.float32))
        self._step.run_with_iobinding(self._binding)
        boxes, logit = self._binding.copy_outputs_to_cpu()
        return _prediction(boxes, logit)

    def predict_batch(self, searches):
        if not self._batches:
            return super().predict_batch(searches)
        if not self._has_cache:
            raise RuntimeError("set_templates() must be called before predict_batch()")
        boxes, logits = self._step.run(["boxes_cxcywh", "score_logit"], {
            "template_cache": self._cache_array, "search": np.ascontiguousarray(searches, dtype=np.float32)})
        return [_prediction(b, l) for b, l in zip(boxes, np.asarray(logits).reshape(-1))]

    def close(self):
        self._templates = self._step = self._binding = self._cache = self._cache_array = None


class OpenVinoBackend(InferenceBackend):
    """The same exported graphs in OpenVINO's CPU plugin: fp32, bf16 (``INFERENCE_PRECISION_HINT``)
    or int8 (the static QDQ graph, whose quantise/dequantise pairs OpenVINO fuses into int8 kernels).

    Why a second runtime: on CPUs with AVX512-BF16 or AMX, OpenVINO's bf16 kernels run the step
    graph where ONNX Runtime has no bf16 path at all. The graphs are read with ``Core.read_model``
    (no model conversion tool, so none of OpenVINO's opt-in telemetry code runs), and every input
    is fixed to batch 1, since static shapes let the plugin pick its fastest kernels.
    """

    name = "openvino"
    _HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}

    def __init__(self, step_path, template_path=None, threads: int | None = None, precision: str = "fp32"):
        import onnx

        try:
            import openvino as ov
        except ImportError as exc:
            raise ValueError(f"the OpenVINO paths need the openvino package (pip install openvino): {exc}") from exc
        if precision not in self._HINTS:
            raise ValueError(f"OpenVINO runs fp32, bf16 or int8, not {precision!r}")
        step_path, template_path = _exported_graphs(step_path, template_path)
        metadata = {p.key: p.value for p in onnx.load(str(step_path), load_external_data=False).metadata_props}
        self.config = ModelConfig.from_metadata(metadata)
        core = ov.Core()
        properties = {"INFERENCE_PRECISION_HINT": self._HINTS[precision], "PERFORMANCE_HINT": "LATENCY",
                      "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads or physical_cores())}
        if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            # OpenVINO would quietly run f32 and the path would be bf16 in name only
            raise ValueError("this CPU has no bf16 kernels for OpenVINO (no AVX512-BF16 or AMX): "
                             "openvino-bf16 would run fp32")
        try:
            self._templates = core.compile_model(self._batch_one(core.read_model(str(template_path))), "CPU",
                                                 properties).create_infer_request()
            self._step = core.compile_model(self._batch_one(core.read_model(str(step_path))), "CPU",
                                            properties).create_infer_request()
        except Exception as exc:  # OpenVINO raises its own exception types
            raise ValueError(f"OpenVINO cannot run {step_path} in {precision}: {exc}") from exc
        self._cache = None

    @staticmethod
    def _batch_one(model):
        """Every dynamic dimension (the batch axis) set to 1."""
        import openvino as ov

        shapes = {}
        for port in model.inputs:
            dims = [1 if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
            shapes[port.get_any_name()] = ov.PartialShape(dims)
        model.reshape(shapes)
        return model

    def set_templates(self, template, online_template):
        out = self._templates.infer({"template": np.ascontiguousarray(template, dtype=np.float32),
                                     "online_template": np.ascontiguousarray(online_template, dtype=np.float32)})
        self._cache = np.array(out["template_cache"], dtype=np.float32)

    def predict(self, search):
        if self._cache is None:
            raise RuntimeError("set_templates() must be called before predict()")
        out = self._step.infer({"template_cache": self._cache,
                                "search": np.ascontiguousarray(search, dtype=np.float32)})
        return _prediction(out["boxes_cxcywh"], out["score_logit"])

    def close(self):
        self._templates = self._step = self._cache = None


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; 'cuda' without CUDA is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available "
                           f"(torch {torch.__version__}); use device 'cpu' or 'auto'")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r} (cpu, cuda, cuda:N or auto)")
    return device


class TorchBackend(InferenceBackend):
    """The PyTorch network on CPU or CUDA; fp16/bf16 and CUDA-graph replay on CUDA."""

    name = "torch"

    def __init__(self, model, device: str = "cpu", precision: str = "fp32", cuda_graph: bool = False):
        import torch

        dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        if precision not in dtypes:
            raise ValueError(f"unknown precision {precision!r} (fp32, fp16, bf16)")
        self.device = torch.device(resolve_device(device))
        if cuda_graph and self.device.type != "cuda":
            raise ValueError("cuda_graph needs device 'cuda'")
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 needs device 'cuda' (use bf16 or fp32 on the CPU)")
        self.dtype = dtypes[precision]
        self.config = model.config
        self.model = model.to(self.device, self.dtype).eval()
        self._cuda_graph = cuda_graph
        self._graph = None
        self._cache = None

    def _tensor(self, array):
        import torch

        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(
            self.device, self.dtype, non_blocking=True)

    def set_templates(self, template, online_template):
        import torch

        with torch.inference_mode():
            cache = self.model.encode_templates(self._tensor(template), self._tensor(online_template))
        if self._graph is not None:
            self._static_cache.copy_(cache)  # the captured graph reads this buffer
        else:
            self._cache = cache

    def _capture(self, search):
        """Record forward_cached once on static buffers; later frames replay it."""
        import torch

        self._static_cache = self._cache.clone()
        self._static_search = search.clone()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(3):  # warm up kernels/allocator outside the graph
                self.model.forward_cached(self._static_cache, self._static_search)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph), torch.inference_mode():
            self._static_out = self.model.forward_cached(self._static_cache, self._static_search)

    def predict(self, search):
        import torch

        if self._cache is None and self._graph is None:
            raise RuntimeError("set_templates() must be called before predict()")
        search = self._tensor(search)
        if self._cuda_graph:
            if self._graph is None:
                self._capture(search)
            self._static_search.copy_(search)
            self._graph.replay()
            out = self._static_out
        else:
            with torch.inference_mode():
                out = self.model.forward_cached(self._cache, search)
        boxes = out["boxes_cxcywh"].float().cpu().numpy()
        logit = out["score_logit"].float().cpu().numpy()
        return _prediction(boxes, logit)

    def predict_batch(self, searches):
        import torch

        if self._cache is None and self._graph is None:
            raise RuntimeError("set_templates() must be called before predict_batch()")
        cache = self._static_cache if self._graph is not None else self._cache
        with torch.inference_mode():
            out = self.model.forward_cached(cache, self._tensor(searches))
        boxes = out["boxes_cxcywh"].float().cpu().numpy()
        logits = out["score_logit"].float().cpu().numpy().reshape(-1)
        return [_prediction(b, l) for b, l in zip(boxes, logits)]

    def close(self):
        import torch

        self.model = self._cache = self._graph = None
        self._static_cache = self._static_search = self._static_out = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def cache_dir() -> Path:
    """Where exports, quantised graphs and precision-gate verdicts are cached."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mixformerv2_ros" / "onnx"


def exported_onnx_for(checkpoint, variant: str | None = None) -> Path:
    """The ONNX export of a .pth.tar, made once and cached on disk under its content's sha256."""
    digest = hashlib.sha256()
    with open(checkpoint, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    # "-b": exports with a free search batch; older cached exports are made again
    target = cache_dir() / f"{digest.hexdigest()[:32]}-{variant or 'auto'}-b" / "model.onnx"
    if not (target.is_file() and templates_path_for(target).is_file()):
        from mixformerv2_ros.model import export_onnx, load_checkpoint

        tmp = target.with_name(f"tmp-{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        step, templates = export_onnx(load_checkpoint(checkpoint, variant), tmp / "model.onnx")
        os.replace(templates, templates_path_for(target))  # step last: its presence marks done
        os.replace(step, target)
        tmp.rmdir()
    return target


def low_precision_onnx_for(step_path, precision: str, frames=None) -> Path:
    """The ``int8`` (dynamic) or ``int8-static`` version of an exported per-frame graph, cached on disk.

    ``int8-static`` calibrates on search crops of ``frames`` (default: the gate clip).
    """
    from mixformerv2_ros.tracker import quantize

    if precision not in ("int8", "int8-static"):
        raise ValueError(f"no low-precision ONNX path named {precision!r} (int8, int8-static)")
    digest = hashlib.sha256(Path(step_path).read_bytes()).hexdigest()[:32]
    target = cache_dir() / f"{digest}-{precision}" / "model.onnx"
    if not target.is_file():
        tmp = target.with_name(f"tmp-{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        if precision == "int8":
            quantized = quantize.quantize_dynamic_int8(step_path, tmp / "model.onnx")
        else:
            from mixformerv2_ros.tracker.precision import GATE_INIT_BOX, read_gate_clip

            frames = read_gate_clip() if frames is None else frames
            quantized = quantize.quantize_static_int8(step_path, tmp / "model.onnx", frames, GATE_INIT_BOX)
        os.replace(templates_path_for(quantized), templates_path_for(target))
        os.replace(quantized, target)
        shutil.rmtree(tmp, ignore_errors=True)
    return target


#: The ways to run an exported model on the CPU: ONNX Runtime fp32 / dynamic int8 / static QDQ int8,
#: and OpenVINO fp32 / bf16 / int8 (the static QDQ graph).
CPU_PATHS = ("fp32", "int8", "int8-static", "openvino-fp32", "openvino-bf16", "openvino-int8")


def cpu_path_backend(step_path, path: str, threads: int | None = None, frames=None) -> InferenceBackend:
    """A backend that runs the exported per-frame graph ``step_path`` on one of ``CPU_PATHS``.

    ``frames`` calibrate the static int8 graph (default: the gate clip).
    """
    if path not in CPU_PATHS:
        raise ValueError(f"no CPU path named {path!r} ({', '.join(CPU_PATHS)})")
    if path.startswith("openvino-"):
        numeric = path.removeprefix("openvino-")
        graph = low_precision_onnx_for(step_path, "int8-static", frames) if numeric == "int8" else step_path
        backend = OpenVinoBackend(graph, threads=threads, precision=numeric)
    else:
        graph = step_path if path == "fp32" else low_precision_onnx_for(step_path, path, frames)
        backend = OnnxRuntimeBackend(graph, threads=threads)
    backend.precision = path
    return backend


def create_backend(model_path, backend: str = "onnxruntime", device: str = "cpu",
                   precision: str = "fp32", cuda_graph: bool = False, threads: int | None = None,
                   variant: str | None = None, log=None) -> InferenceBackend:
    """A backend for an official ``.pth.tar`` or an exported ``.onnx`` file.

    ``precision="auto"`` (ONNX Runtime) runs the accuracy gate of ``precision`` (cached) and
    takes the fastest path that passes it, else fp32; the backend's ``precision_choice`` says
    which and why. With the torch backend ``auto`` means fp16 on CUDA and fp32 on the CPU.
    """
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    is_onnx = path.suffix == ".onnx"
    if backend == "onnxruntime":
        if device not in ("cpu", "auto"):
            raise ValueError(f"the onnxruntime backend runs on the CPU; use backend 'torch' for {device!r}")
        if precision != "auto" and precision not in CPU_PATHS:
            raise ValueError(f"the onnxruntime backend runs auto or one of {', '.join(CPU_PATHS)}, "
                             f"not {precision!r}")
        step = path if is_onnx else exported_onnx_for(path, variant)
        choice = None
        if precision == "auto":
            from mixformerv2_ros.tracker.precision import choose_precision

            choice = choose_precision(step, threads, log=log)
            precision = choice.precision
        backend = cpu_path_backend(step, precision, threads)
        backend.precision_choice = choice
        return backend
    if backend == "torch":
        if is_onnx:
            raise ValueError(f"{path} is an ONNX export: the torch backend needs the .pth.tar checkpoint")
        from mixformerv2_ros.model import load_checkpoint

        if threads:
            import torch

            torch.set_num_threads(threads)
        if precision == "auto":
            precision = "fp16" if resolve_device(device).startswith("cuda") else "fp32"
        backend = TorchBackend(load_checkpoint(path, variant), device, precision, cuda_graph)
        backend.precision = precision
        backend.precision_choice = None
        return backend
    raise ValueError(f"unknown backend {backend!r} (onnxruntime or torch)")
