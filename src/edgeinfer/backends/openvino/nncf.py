"""The NNCF INT8 route of the OpenVINO backend: ``nncf.quantize`` on the OpenVINO model.

Calibration data comes from :func:`edgeinfer.calibration.calibration_feeds` (the same data,
preprocessing and sample count as the QDQ route), split into single samples so that NNCF's
``subset_size`` counts samples. ``BuildConfig.exclude`` (ONNX node names or op types) becomes
an ``nncf.IgnoredScope`` over the OpenVINO ops converted from those nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.calibration import calibration_feeds
from edgeinfer.errors import require
from edgeinfer.model import Model
from edgeinfer.passes.base import check_exclude, copy_proto, ensure_node_names

if TYPE_CHECKING:
    import openvino as ov

    from edgeinfer.backends.int8_isa import Int8Isa
    from edgeinfer.backends.openvino.settings import OpenVinoSettings
    from edgeinfer.config import BuildConfig

Feed = dict[str, np.ndarray]


def single_samples(feeds: list[Feed], model: Model) -> list[Feed]:
    """Split calibration batches into batch-1 feeds when the model's batch dim is symbolic."""
    dynamic = all(s.shape and not isinstance(s.shape[0], int) for s in model.inputs)
    if not dynamic:
        return feeds
    out: list[Feed] = []
    for feed in feeds:
        n = min(int(a.shape[0]) for a in feed.values())
        out.extend(
            {k: np.ascontiguousarray(v[i : i + 1]) for k, v in feed.items()} for i in range(n)
        )
    return out


def named_model(model: Model) -> Model:
    """``model`` with unnamed nodes named by :func:`edgeinfer.passes.base.node_names`, as the
    QDQ pass names them, so ``--exclude`` names mean the same nodes on both INT8 routes.
    """
    proto = copy_proto(model)
    if not ensure_node_names(proto):
        return model
    return Model(proto, model.path)


def excluded_onnx_nodes(model: Model, exclude: tuple[str, ...]) -> list[str]:
    """Names of the nodes ``exclude`` selects: node names, or op types meaning every such node.

    Raises:
        ModelError: an entry is neither a node name nor an ONNX op type.
    """
    names, op_types = check_exclude(model.proto, exclude)
    picked = [n.name for n in model.proto.graph.node if n.name in names or n.op_type in op_types]
    return picked


def ignored_ov_ops(ov_model: ov.Model, onnx_names: list[str]) -> list[str]:
    """OpenVINO op names converted from the ONNX nodes (``N`` and ``N/...``, e.g. a Conv's
    ``N/WithoutBiases``).
    """
    wanted = set(onnx_names)
    out = []
    for op in ov_model.get_ordered_ops():
        name = op.get_friendly_name()
        if name in wanted or any(name.startswith(w + "/") for w in wanted):
            out.append(name)
    return out


def overflow_fix(setting: str, isa: Int8Isa) -> str:
    """NNCF's overflow fix for ``setting`` on ``isa``: ``auto`` is ``enable`` (7-bit weights
    in every layer) where oneDNN's INT8 kernels saturate, NNCF's own default
    ``first_layer`` elsewhere.
    """
    if setting != "auto":
        return setting
    return "enable" if isa.saturates else "first_layer"


_OVERFLOW_FIX = {"enable": "ENABLE", "first_layer": "FIRST_LAYER", "disable": "DISABLE"}


def nncf_quantize(
    ov_model: ov.Model,
    model: Model,
    config: BuildConfig,
    settings: OpenVinoSettings,
    fix: str = "first_layer",
    *,
    quiet: bool | None = None,
) -> tuple[ov.Model, str]:
    """Post-training INT8 quantization of ``ov_model`` with NNCF.

    Args:
        ov_model: the converted FP32 model of ``model`` (after :func:`named_model`).
        model: the ONNX model it came from (named by :func:`named_model`).
        config: the build config (calibration, exclude).
        settings: NNCF preset and bias correction.
        fix: the overflow fix (:func:`overflow_fix`).
        quiet: no progress bars of edgeinfer's own (NNCF prints its bars and logs to stdout
            as it chooses; the CLI keeps them off its output, see edgeinfer.cli.console).

    Returns:
        The quantized model and a note describing the route.

    Raises:
        MissingExtraError: nncf is not installed.
        DataError: no or too little calibration data (from the calibration module).
    """
    nncf = require("nncf", "openvino", purpose="OpenVINO int8 with quantizer=nncf")
    cal = config.calibration_config()
    samples = single_samples(calibration_feeds(model, cal, quiet=quiet), model)
    advanced = nncf.AdvancedQuantizationParameters(
        overflow_fix=getattr(nncf.OverflowFix, _OVERFLOW_FIX[fix])
    )
    kwargs: dict[str, Any] = {
        "preset": nncf.QuantizationPreset(settings.nncf_preset),
        "subset_size": len(samples),
        "fast_bias_correction": settings.fast_bias_correction,
        "advanced_parameters": advanced,
    }
    if config.exclude:
        ops = ignored_ov_ops(ov_model, excluded_onnx_nodes(model, config.exclude))
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=ops, validate=False)
    quantized = nncf.quantize(ov_model, nncf.Dataset(samples), **kwargs)
    note = (
        f"int8 route: NNCF {nncf.__version__} nncf.quantize (preset {settings.nncf_preset}, "
        f"{'fast' if settings.fast_bias_correction else 'full'} bias correction, overflow fix "
        f"{fix}, {len(samples)} samples of "
        f"{cal.data}; NNCF estimates the ranges itself, calibrator '{cal.method}' is not used"
        f"{'; excluded ' + ', '.join(config.exclude) if config.exclude else ''})"
    )
    return quantized, note
