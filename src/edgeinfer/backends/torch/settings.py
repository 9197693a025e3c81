"""PyTorch backend options: device, compilation, auto-tuning, batch profile, CUDA graphs.

``--option NAME=VALUE`` pairs are parsed once into :class:`TorchSettings` (the backend's
``options_type``). Nothing here imports torch.

Batch profiles work like TensorRT optimization profiles: ``batch=8`` (one static shape),
``batch=1,8,32`` (one compiled graph per size, each with its own CUDA graph) or
``batch=1-64`` (one dynamic graph for any size in the range; AOTInductor only, no CUDA
graphs). The runner refuses other batch sizes with a message naming the profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError

__all__ = ["ARTIFACTS", "COMPILE_MODES", "DEVICES", "BatchProfile", "TorchSettings"]

SETTINGS_VERSION = 1
DEVICES = ("cpu", "cuda")
COMPILE_MODES = ("none", "inductor")
# torch.compile's mode names, accepted for ``compile``: edgeinfer captures its own CUDA graphs,
# so the modes differ only in kernel auto-tuning.
MODE_ALIASES = {
    "default": ("inductor", False),
    "reduce-overhead": ("inductor", False),
    "max-autotune": ("inductor", True),
    "max-autotune-no-cudagraphs": ("inductor", True),
}
ARTIFACTS = ("auto", "aoti", "inductor")
MAX_BATCH = 65536
_STATIC = re.compile(r"^\d+(,\d+)*$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an engine runs: static ``sizes`` or a dynamic ``[low, high]`` range."""

    sizes: tuple[int, ...] = ()
    low: int | None = None
    high: int | None = None

    @property
    def dynamic(self) -> bool:
        """Whether the engine takes any batch in ``[low, high]`` (one dynamic graph)."""
        return self.low is not None

    def accepts(self, batch: int) -> bool:
        """Whether ``batch`` is in the profile."""
        if self.dynamic:
            assert self.low is not None and self.high is not None
            return self.low <= batch <= self.high
        return batch in self.sizes

    def describe(self) -> str:
        """``1,8,32`` or ``1-64`` (the option's own syntax)."""
        return f"{self.low}-{self.high}" if self.dynamic else ",".join(map(str, self.sizes))

    def example_batch(self) -> int:
        """The batch of the example input a dynamic graph is traced with (>= 2: torch.export
        specializes a batch of 1 to a constant).
        """
        assert self.low is not None and self.high is not None
        return max(2, min(self.high, max(self.low, 2)))


def parse_batch(text: str, default: int) -> BatchProfile:
    """The profile of option ``batch`` (``""``: the source's example batch ``default``).

    Raises:
        ConfigError: not ``N``, ``N,M,...`` or ``MIN-MAX`` with 1 <= sizes <= 65536.
    """
    value = str(text).replace(" ", "")
    if not value:
        return BatchProfile(sizes=(default,))
    hint = "use e.g. batch=1, batch=1,8,32 or batch=1-64"
    if _STATIC.match(value):
        sizes = tuple(sorted({int(v) for v in value.split(",")}))
        if sizes[0] < 1 or sizes[-1] > MAX_BATCH:
            raise ConfigError(f"torch option batch={text} must be sizes in 1..{MAX_BATCH}; {hint}")
        return BatchProfile(sizes=sizes)
    m = _RANGE.match(value)
    if m is None:
        raise ConfigError(f"torch option batch={text!r} is not a batch profile; {hint}")
    low, high = int(m.group(1)), int(m.group(2))
    if not 1 <= low < high <= MAX_BATCH:
        raise ConfigError(
            f"torch option batch={text} must be MIN-MAX with 1 <= MIN < MAX <= {MAX_BATCH}; {hint}"
        )
    return BatchProfile(low=low, high=high)


@dataclass(frozen=True)
class TorchSettings:
    """Options of a torch build (``--option NAME=VALUE``).

    Attributes:
        device: ``cpu`` or ``cuda`` (the first visible NVIDIA GPU, or ``device_index``).
        compile: ``none`` (the module runs eagerly: the user's starting point) or
            ``inductor`` (torch.export + TorchInductor; the engine holds compiled code).
            torch.compile's mode names are accepted: ``default`` and ``reduce-overhead`` mean
            ``inductor``, ``max-autotune[-no-cudagraphs]`` ``inductor`` with ``autotune``
            (CUDA graphs are edgeinfer's own: ``cuda_graphs``).
        autotune: kernel auto-tuning (Inductor ``max_autotune``: every convolution and
            matrix product is benchmarked against generated Triton/C++ templates at build
            time and the fastest is compiled in). Implies ``compile=inductor``.
        artifact: what the compiled engine stores: ``aoti`` (an AOTInductor package, loaded
            without Python compilation), ``inductor`` (standalone-compile artifacts: the
            generated code with its Triton kernels, loaded without recompiling) or ``auto``
            (``aoti`` on CPU, ``inductor`` on CUDA: AOTInductor packages segfault on load on
            the GPU machine's torch 2.11, see docs/backends.md).
        batch: the batch profile (see :func:`parse_batch`); "" is the source's batch.
        cuda_graphs: capture one CUDA graph per static batch size and replay it.
        channels_last: NHWC memory format for 4-D inputs (None: on for fp16/bf16 on CUDA).
        fold_bn: fold eval-mode BatchNorm into the preceding convolution before compiling.
        verify_load: at build time, load the saved engine in a fresh Python process and
            compare its outputs with the in-process ones (a crash fails the build).
        device_index: the CUDA device (None: the current one).
        version: format version of these settings.
    """

    WHAT: ClassVar[str] = "torch options"

    device: str = "cpu"
    compile: str = "none"
    autotune: bool = False
    artifact: str = "auto"
    batch: str = ""
    cuda_graphs: bool = True
    channels_last: bool | None = None
    fold_bn: bool = True
    verify_load: bool = True
    device_index: int | None = None
    version: int = SETTINGS_VERSION

    def __post_init__(self) -> None:
        if self.compile in MODE_ALIASES:
            mode, tune = MODE_ALIASES[self.compile]
            object.__setattr__(self, "compile", mode)
            object.__setattr__(self, "autotune", self.autotune or tune)
        for name, value, allowed in (
            ("device", self.device, DEVICES),
            ("compile", self.compile, COMPILE_MODES),
            ("artifact", self.artifact, ARTIFACTS),
        ):
            if value not in allowed:
                raise ConfigError(
                    f"unknown torch {name} '{value}'; choose one of {', '.join(allowed)}"
                    + (f" (or a torch.compile mode: {', '.join(MODE_ALIASES)})" if name == "compile" else "")
                )
        if self.autotune and self.compile == "none":
            object.__setattr__(self, "compile", "inductor")
        parse_batch(self.batch, 1)
        if self.device_index is not None and (
            isinstance(self.device_index, bool) or self.device_index < 0
        ):
            raise ConfigError(f"torch option device_index must be >= 0, got {self.device_index!r}")
        serde.check_version(self.WHAT, self.version, SETTINGS_VERSION)

    @property
    def compiled(self) -> bool:
        """Whether the engine holds compiled code (not the eager module)."""
        return self.compile != "none"

    @property
    def artifact_kind(self) -> str:
        """``eager``, ``aoti`` or ``inductor``: what the build writes."""
        if not self.compiled:
            return "eager"
        if self.artifact != "auto":
            return self.artifact
        return "aoti" if self.device == "cpu" else "inductor"

    def profile(self, default_batch: int) -> BatchProfile:
        """The batch profile (``default_batch``: the source's example batch)."""
        return parse_batch(self.batch, default_batch)

    def use_channels_last(self, precision: str, rank: int) -> bool:
        """NHWC for this build: as set, else for 4-D fp16/bf16 inputs on CUDA."""
        if rank != 4:
            return False
        if self.channels_last is not None:
            return self.channels_last
        return self.device == "cuda" and precision in ("fp16", "bf16")
