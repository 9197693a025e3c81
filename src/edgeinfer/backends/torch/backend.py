"""The PyTorch backend: eager modules (the user's starting point) and compiled engines
(TorchInductor, optionally auto-tuned) on the CPU or a CUDA GPU.

Payloads, by ``--option compile=... artifact=...`` (see :mod:`.settings`):

* eager: ``weights.pt`` (the state dict in the engine's precision, loaded back with
  ``weights_only=True``) and ``source.json`` (the :class:`~edgeinfer.source.TorchSource`);
* aoti: one AOTInductor package ``model_bN.pt2`` per batch size (``model_dyn.pt2`` for a
  range), weights frozen inside;
* inductor: one standalone Inductor artifact ``graph_bN.inductor`` per batch size and
  ``weights.pt`` (the weights in the order the compiled graphs take them).

A compiled build loads its payload in a fresh process before it is accepted
(``verify_load``), so an engine that would crash or recompile at load never lands in the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.backends import register_backend
from edgeinfer.backends.base import Backend, BuildResult, Capabilities
from edgeinfer.backends.torch.compiled import build_compiled
from edgeinfer.backends.torch.executors import SOURCE, WEIGHTS, EngineInfo
from edgeinfer.backends.torch.prepare import prepare_module
from edgeinfer.backends.torch.runner import TorchRunner, forward
from edgeinfer.backends.torch.settings import TorchSettings
from edgeinfer.errors import BackendError, ConfigError, first_line, require
from edgeinfer.host import current_gpu, current_host
from edgeinfer.tensors import TensorSpec

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model

# CPU flags with native kernels for the precision (else torch emulates it slowly).
_CPU_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}
INT8_REFUSAL = (
    "the torch backend has no int8: PyTorch's INT8/FP8 inference (torchao) quantizes Linear "
    "layers only, so convolutions would stay in float; use --backend onnxruntime or openvino "
    "for int8, or fp16/bf16 here"
)


@register_backend
class TorchBackend(Backend[TorchSettings]):
    """PyTorch eager or TorchInductor-compiled, on the CPU or a CUDA GPU."""

    name = "torch"
    extra = "torch"
    distribution = "torch"
    module = "torch"
    options_type = TorchSettings
    capabilities = Capabilities(
        precisions=("fp32", "fp16", "bf16"),
        searched_by_default=True,
        needs_torch_source=True,
        baseline=True,
        # CPU: AOTInductor; CUDA: Inductor + CUDA graphs. Not auto-tuned: on an H200 it made
        # ResNet-50 slower (0.60 vs 0.43 ms at batch 1) after 4-5 minutes of tuning.
        search_options=(
            (("compile", "inductor"),),
            (("compile", "inductor"), ("device", "cuda")),
        ),
    )

    def check_config(self, config: BuildConfig) -> None:
        """The common checks, then this host's rules: a CUDA GPU for ``device=cuda``, native
        CPU kernels for fp16/bf16 on the CPU, bf16 on GPUs of compute capability >= 8.0.

        Raises:
            BackendError: int8, no GPU, or no native kernels for the precision here.
            ConfigError: ``--exclude``, or option combinations that cannot work.
        """
        if config.precision == "int8":
            raise BackendError(INT8_REFUSAL)
        super().check_config(config)
        if config.exclude:
            raise ConfigError(
                "--exclude applies to graph precision passes; the torch backend converts the "
                "whole module: drop --exclude"
            )
        s = self.options(config)
        if s.device == "cuda":
            _check_cuda(config.precision, s)
        elif config.precision in _CPU_FLAGS:
            flags = set(current_host().isa_flags)
            if not flags & set(_CPU_FLAGS[config.precision]):
                raise BackendError(
                    f"this CPU has no native {config.precision} kernels "
                    f"({' or '.join(_CPU_FLAGS[config.precision])}); torch would emulate it "
                    "slowly: use fp32 here (or --option device=cuda)"
                )
        if s.artifact_kind == "inductor" and s.profile(1).dynamic:
            raise ConfigError(
                "a batch range needs --option artifact=aoti; Inductor artifacts (and CUDA "
                "graphs) have static shapes: give sizes, e.g. --option batch=1,8,32"
            )

    def target_fingerprint(self, config: BuildConfig) -> str:
        """The GPU's fingerprint for ``device=cuda`` (an engine cached for another GPU, CUDA,
        Triton or torch is rebuilt, not reused), "" on the CPU.
        """
        s = self.options(config)
        if s.device != "cuda":
            return ""
        gpu = current_gpu(s.device_index)
        return gpu.fingerprint() if gpu else "no CUDA GPU"

    def build(
        self, model: Model, config: BuildConfig, directory: Path, *, quiet: bool | None = None
    ) -> BuildResult:
        """Build the engine the options ask for (eager or compiled) into ``directory``.

        Raises:
            BackendError: no PyTorch source, the module fails, export/compilation fails, or
                the saved engine does not load in a fresh process.
            MissingExtraError: torch is not installed.
        """
        torch = require("torch", "torch", purpose="the torch backend")
        self.check_source(model)
        source = model.torch_source
        assert source is not None
        s = self.options(config)
        module = source.load()
        _check_runs(module, model)
        meta: dict[str, Any] = {"version": str(torch.__version__), "source": source.to_dict()}
        gpu = current_gpu(s.device_index) if s.device == "cuda" else None
        if s.compiled:
            info, notes = build_compiled(module, model, config, s, directory, gpu=gpu)
        else:
            info, notes = _build_eager(module, model, config, s, directory, gpu=gpu)
            (directory / SOURCE).write_text(json.dumps(source.to_dict(), indent=2) + "\n")
        meta.update(info.to_dict())
        what = "eager" if not s.compiled else f"TorchInductor ({info.artifact})"
        where = gpu.describe() if gpu else "CPU"
        notes.insert(0, f"PyTorch {torch.__version__} {what} {config.precision} on {where}, from {source.describe()}")
        payload = sorted(f.name for f in directory.iterdir() if f.is_file())
        return BuildResult(
            payload=tuple(payload),
            executed_precision=config.precision,
            notes=tuple(notes),
            metadata={"torch": meta},
            inputs=_fixed_batch(model, info),
            outputs=_fixed_batch(model, info, outputs=True),
        )

    def runner(self, engine: Engine, **options: Any) -> TorchRunner:
        """A new, inactive :class:`TorchRunner` for ``engine``."""
        return TorchRunner(engine, **options)


def _check_cuda(precision: str, s: TorchSettings) -> None:
    gpu = current_gpu(s.device_index)
    if gpu is None:
        raise BackendError(
            "--option device=cuda needs an NVIDIA GPU visible to a CUDA build of torch, and "
            "this machine has none; build with device=cpu or on the GPU machine"
        )
    if precision == "bf16" and float(gpu.compute_capability) < 8.0:
        raise BackendError(
            f"{gpu.name} (compute capability {gpu.compute_capability}) has no bf16 tensor "
            "cores; use fp16"
        )


def _build_eager(
    module: Any,
    model: Model,
    config: BuildConfig,
    s: TorchSettings,
    directory: Path,
    *,
    gpu: Any,
) -> tuple[EngineInfo, list[str]]:
    import torch

    rank = len(model.inputs[0].shape) if model.inputs else 0
    channels_last = s.use_channels_last(config.precision, rank)
    device = "cpu" if s.device == "cpu" else f"cuda:{gpu.index}"
    prepared, notes = prepare_module(
        module, precision=config.precision, device=device, channels_last=False, fold_bn=False
    )
    torch.save({k: v.cpu() for k, v in prepared.state_dict().items()}, directory / WEIGHTS)
    info = EngineInfo(
        artifact="eager",
        device=s.device,
        precision=config.precision,
        channels_last=channels_last,
        device_index=-1 if gpu is None else gpu.index,
        gpu=gpu,
        compile_threads=None,
        version=str(torch.__version__),
    )
    return info, notes


def _fixed_batch(model: Model, info: EngineInfo, *, outputs: bool = False) -> tuple[Any, ...]:
    """The model's IO specs with the batch fixed when the engine has one static size (so
    measurements feed it that batch); empty (the model's specs) otherwise.
    """
    if info.artifact == "eager" or info.batch.dynamic or len(info.batch.sizes) != 1:
        return ()
    b = info.batch.sizes[0]
    specs = model.outputs if outputs else model.inputs
    return tuple(
        TensorSpec(s.name, s.dtype, (b, *s.shape[1:]) if s.shape and not isinstance(s.shape[0], int) else s.shape)
        for s in specs
    )


def _check_runs(module: Any, model: Model) -> None:
    """Run the module once on the model's inputs (batch 1): it must give its outputs.

    Raises:
        BackendError: the module fails on the ONNX graph's input shapes, or returns a
            different number of outputs.
    """
    feed = model.random_feed(batch=1)
    try:
        outs = forward(module, [feed[s.name] for s in model.inputs])
    except Exception as exc:
        raise BackendError(
            f"the PyTorch module of '{model.name}' fails on the model's inputs "
            f"({', '.join(s.describe() for s in model.inputs)}): {first_line(exc)}; check the "
            "source's input shape"
        ) from exc
    if len(outs) != len(model.outputs):
        raise BackendError(
            f"the PyTorch module of '{model.name}' returns {len(outs)} output(s) but the ONNX "
            f"graph has {len(model.outputs)}; export the graph from the same module"
        )
