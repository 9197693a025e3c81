"""Candidate enumeration: backend × precision × calibrator (× threads), plus variants.

Every candidate is a :class:`~edgeinfer.config.BuildConfig` built through the normal
build path (and its engine cache). Configs a backend rejects up front (a precision it does
not support on this host, a missing extra) are returned as skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from edgeinfer.backends import backend_class, find_backends, get_backend
from edgeinfer.backends.base import Int8Route
from edgeinfer.config import PRECISIONS, BuildConfig, CalibrationConfig
from edgeinfer.errors import BackendError, ConfigError, EdgeInferError

if TYPE_CHECKING:
    from edgeinfer.model import Model

DEFAULT_CALIBRATORS = ("percentile", "minmax")


def default_backends() -> tuple[str, ...]:
    """The backends ``optimize`` tries without ``--backends``: every registered one that
    declares ``searched_by_default`` (installed or not: a missing one is listed as left out).
    """
    return tuple(find_backends(available_only=False, searched_by_default=True))


def reference_backend() -> str:
    """The backend whose FP32 engine is the fidelity reference (declared ``reference``)."""
    found = find_backends(reference=True)
    if not found:
        raise BackendError("no installed backend can be the FP32 reference; install onnxruntime")
    return found[0]


@dataclass(frozen=True)
class Candidate:
    """One variant to build and measure."""

    name: str
    config: BuildConfig
    role: str = ""  # "reference" (the FP32 engine fidelity is measured against) or ""
    # The model it builds: None for the searched model; a pruned variant carries its own.
    model: Model | None = field(default=None, compare=False, repr=False)


def candidate_name(config: BuildConfig, *, show_threads: bool = False) -> str:
    """``onnxruntime/int8(percentile)``, ``openvino/int8[nncf]``, ``…+3fp32``, ``… t1``.

    Threads appear only with ``show_threads`` (thread variants): every other candidate of a
    search runs with the same thread count.
    """
    name = f"{config.backend}/{config.precision}"
    method = config.calibration.method if config.calibration else None
    opts = dict(config.options)
    if method and opts.get("quantizer") != "nncf":
        name += f"({method})"
    extras = [f"{k}={v}" for k, v in sorted(opts.items()) if k != "quantizer"]
    if "quantizer" in opts:
        extras.insert(0, str(opts["quantizer"]))
    if config.calibration is not None and not config.calibration.per_channel:
        extras.append("per-tensor")
    if extras:
        name += "[" + ",".join(extras) + "]"
    if config.exclude:
        name += f"+{len(config.exclude)}fp32"
    if show_threads and config.threads is not None:
        name += f" t{config.threads}"
    return name


def calibration_config(
    method: str,
    data: str | None,
    samples: int,
    seed: int = 0,
    fingerprint: str | None = None,
    per_channel: bool = True,
) -> CalibrationConfig:
    """The calibration of the INT8 candidates for ``method`` on ``data`` (``fingerprint``: the
    data's content hash, so changed files under the same spec give new engines;
    ``per_channel`` False: per-tensor weights, for models where per-channel is impossible).
    """
    return CalibrationConfig(
        method=method,
        data=data,
        samples=samples,
        seed=seed,
        data_fingerprint=fingerprint,
        per_channel=per_channel,
    )


def _backend_precisions(name: str) -> tuple[str, ...]:
    return tuple(get_backend(name).precisions)


def _check(config: BuildConfig) -> str | None:
    """None when the backend accepts ``config``; else the reason it does not."""
    try:
        get_backend(config.backend).check_config(config)
    except EdgeInferError as exc:
        return str(exc)
    return None


def _int8_configs(
    backend: str,
    threads: int | None,
    calibrators: Sequence[str],
    calib_data: str | None,
    calib_samples: int,
    seed: int,
    fingerprint: str | None,
    per_channel: bool = True,
) -> list[BuildConfig]:
    out = []
    for route in backend_class(backend).capabilities.int8_routes:
        methods = calibrators if route.calibrators else calibrators[:1] or ("minmax",)
        for method in methods:
            cal = calibration_config(
                method, calib_data, calib_samples, seed, fingerprint, per_channel
            )
            out.append(
                BuildConfig(backend, "int8", threads, options=route.options, calibration=cal)
            )
    return out


def enumerate_candidates(
    backends: Sequence[str] | None = None,
    precisions: Sequence[str] | None = None,
    calibrators: Sequence[str] | None = None,
    *,
    threads: int | None = None,
    calib_data: str | None = None,
    calib_samples: int = 128,
    seed: int = 0,
    calib_fingerprint: str | None = None,
    torch_source: bool = True,
    per_channel: bool = True,
) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """All candidates to try, and ``(what, why)`` for combinations left out.

    Args:
        backends: backend names (None: :func:`default_backends`).
        precisions: precisions to try (None: each backend's own list).
        calibrators: INT8 calibrators (None: :data:`DEFAULT_CALIBRATORS`).
        threads: intra-op threads for every candidate.
        calib_data: dataset spec for calibration (see ``open_dataset``).
        calib_samples: calibration samples per INT8 build.
        seed: seed of the calibration subset.
        calib_fingerprint: content hash of the calibration data (part of engine cache keys).
        torch_source: the model has a PyTorch source (else backends that build from the
            module are left out).
        per_channel: per-channel INT8 weights (False: per-tensor variants instead, for
            models where per-channel cannot be built, e.g. an opset the converter cannot
            upgrade to 13).

    Raises:
        ConfigError: an unknown precision, or an explicitly requested backend is unknown.
    """
    for p in precisions or ():
        if p not in PRECISIONS:
            raise ConfigError(f"unknown precision '{p}'; choose from {', '.join(PRECISIONS)}")
    int8 = (
        tuple(calibrators or DEFAULT_CALIBRATORS),
        calib_data,
        calib_samples,
        seed,
        calib_fingerprint,
        per_channel,
    )
    cands: list[Candidate] = []
    left_out: list[tuple[str, str]] = []
    for backend in backends or default_backends():
        try:
            supported = _backend_precisions(backend)
        except BackendError as exc:
            if backends is not None and "unknown backend" in str(exc):
                raise
            left_out.append((backend, str(exc)))
            continue
        if not torch_source and backend_class(backend).capabilities.needs_torch_source:
            left_out.append((backend, "it builds from a PyTorch source and the model has none"))
            continue
        for precision in precisions or supported:
            if precision not in supported:
                left_out.append((f"{backend}/{precision}", f"{backend} has no {precision}"))
                continue
            _add_configs(backend, precision, threads, int8, cands, left_out)
    return cands, left_out


def _add_configs(
    backend: str,
    precision: str,
    threads: int | None,
    int8: tuple[tuple[str, ...], str | None, int, int, str | None, bool],
    cands: list[Candidate],
    left_out: list[tuple[str, str]],
) -> None:
    """Append the candidates of one backend/precision (or why they are left out)."""
    if precision == "int8":
        configs = _int8_configs(backend, threads, *int8)
    else:
        sets = backend_class(backend).capabilities.search_options
        configs = [BuildConfig(backend, precision, threads, options=opts) for opts in sets]
    for cfg in configs:
        why = _check(cfg)
        if why:
            left_out.append((candidate_name(cfg), why))
            continue
        is_ref = precision == "fp32" and backend == reference_backend()
        role = "reference" if is_ref else ""
        cands.append(Candidate(candidate_name(cfg), cfg, role))


def reference_candidate(threads: int | None) -> Candidate:
    """The FP32 engine every fidelity number is measured against (:func:`reference_backend`)."""
    cfg = BuildConfig(reference_backend(), "fp32", threads)
    return Candidate(candidate_name(cfg), cfg, "reference")


def thread_variant(candidate: Candidate, threads: int) -> Candidate:
    """The same candidate run with ``threads`` intra-op threads."""
    cfg = candidate.config.replace(threads=threads)
    base = candidate_name(candidate.config)
    # A pruned variant's name starts with its model's tag ("channel50%/"): keep it.
    prefix = candidate.name.removesuffix(base) if candidate.name.endswith(base) else ""
    return replace(candidate, name=prefix + candidate_name(cfg, show_threads=True), config=cfg, role="")


def mixed_variant(candidate: Candidate, exclude: Sequence[str]) -> Candidate:
    """``candidate`` with ``exclude`` layers kept out of INT8: in FP32, or in the precision
    its route's ``mixed_options`` ask for (OpenVINO: BF16) where the host accepts them.
    """
    cfg = candidate.config.replace(exclude=tuple(exclude))
    extra = int8_route(cfg).mixed_options if cfg.precision == "int8" else ()
    if extra:
        wanted = cfg.replace(options=tuple(sorted({**dict(cfg.options), **dict(extra)}.items())))
        cfg = cfg if _check(wanted) else wanted
    return Candidate(candidate_name(cfg), cfg, "mixed")


def sensitivity_config(config: BuildConfig) -> BuildConfig:
    """The config whose builds rank layer sensitivity for mixed precision: the route's proxy
    backend (a cheaper build that quantizes the same way, declared by the backend) with the
    same calibration, else the config itself.
    """
    proxy = int8_route(config).proxy_backend if config.precision == "int8" else None
    if proxy is None:
        return config
    return BuildConfig(proxy, "int8", config.threads, calibration=config.calibration)


def int8_route(config: BuildConfig) -> Int8Route:
    """The INT8 route ``config`` selects: the route with the most options that ``config``'s
    options contain (the default route when none matches).
    """
    routes = backend_class(config.backend).capabilities.int8_routes
    opts = set(config.options)
    chosen = [r for r in routes if set(r.options) <= opts]
    return max(chosen, key=lambda r: len(r.options)) if chosen else Int8Route("default")
