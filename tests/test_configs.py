"""Every config class: JSON round trip, unknown keys, wrong types and newer versions refused.

:data:`CONFIGS` lists them; a test walks ``src/edgeinfer`` so that a new frozen dataclass named
like a config (``*Config``, ``*Options``, ``*Settings``, ``*Spec``, ``Budget``,
``Tolerances``, ``NodeParams``) cannot be added without being listed here.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgeinfer import serde
from edgeinfer.backends.onnxruntime.settings import OrtOptions
from edgeinfer.backends.openvino.settings import OpenVinoSettings
from edgeinfer.backends.options import NoOptions
from edgeinfer.backends.torch.settings import TorchSettings
from edgeinfer.bench.latency import BenchConfig
from edgeinfer.bench.pipeline import PipelineConfig
from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.errors import ConfigError
from edgeinfer.evaluate.fidelity_types import Tolerances
from edgeinfer.host import HostInfo
from edgeinfer.passes.equalize import EqualizeConfig
from edgeinfer.passes.fp16 import Fp16Config
from edgeinfer.passes.int8 import Int8Config
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.prune.config import FinetuneConfig, PruneConfig
from edgeinfer.ros.params import NodeParams
from edgeinfer.search.config import OptimizeConfig
from edgeinfer.search.select import Budget
from edgeinfer.tensors import TensorSpec

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "edgeinfer"
CONFIG_NAME = re.compile(r"^(\w*(Config|Options|Settings|Spec)|Budget|Tolerances|NodeParams)$")


@dataclass(frozen=True)
class Case:
    """A config class, a non-default instance, a key with a value of the wrong type, and the
    default instance when the class has no valid all-defaults one."""

    cls: type
    other: Any
    wrong: tuple[str, Any]
    default: Any = None

    def __str__(self) -> str:
        return self.cls.__name__


CALIBRATION = CalibrationConfig(
    method="minmax",
    samples=32,
    data="npz:calib.npz",
    seed=3,
    batch_size=8,
    symmetric_activations=True,
    per_channel=False,
    min_samples=8,
    cache="/tmp/calib.json",
    data_fingerprint="ab" * 32,
)

CONFIGS = [
    Case(
        BuildConfig,
        BuildConfig(
            "openvino",
            "int8",
            2,
            options={"performance_hint": "THROUGHPUT", "streams": 2, "fast_bias_correction": False},
            exclude=("Conv_0", "Gemm"),
            calibration=CALIBRATION,
        ),
        ("threads", "many"),
    ),
    Case(CalibrationConfig, CALIBRATION, ("samples", "many")),
    Case(
        PreprocessSpec,
        PreprocessSpec(
            size=(224, 224),
            resize="shorter",
            resize_shorter=256,
            color="bgr",
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
            layout="NHWC",
        ),
        ("size", "big"),
        PreprocessSpec(size=(28, 28)),  # resize "direct" needs a size
    ),
    Case(Fp16Config, Fp16Config(block_ops=("Softmax",), exclude=("conv1",)), ("exclude", 3)),
    Case(EqualizeConfig, EqualizeConfig(iterations=5, max_scale=100.0), ("iterations", "many")),
    Case(
        Int8Config,
        Int8Config(
            calibration=CALIBRATION,
            exclude=("Gemm",),
            preprocess=False,
            op_types=("Conv",),
            reduce_range=True,
            quantize_outputs=True,
            bias_correction=True,
        ),
        ("preprocess", "maybe"),
    ),
    Case(
        OptimizeConfig,
        OptimizeConfig(
            calib="photos",
            eval="npz:eval.npz",
            budget=Budget(max_accuracy_drop=0.5, latency_budget_ms=33.0, objective="p99"),
            backends=("onnxruntime",),
            precisions=("fp32", "int8"),
            calibrators=("minmax",),
            threads=2,
            time_budget_min=None,
            mixed=False,
            out_dir="out",
        ),
        ("rounds", [1]),
    ),
    Case(
        Budget,
        Budget(min_agreement=0.99, confidence=0.6, require_top5=False, objective="throughput"),
        ("confidence", "high"),
    ),
    Case(
        Tolerances,
        Tolerances(atol=None, rtol=None, min_agreement=0.99, min_cosine=0.9, max_kl=0.1),
        ("atol", "small"),
    ),
    Case(
        BenchConfig,
        BenchConfig(batch=4, duration_s=2.0, rate_hz=30.0, deadline_ms=33.0, shapes=(("x", (1, 3, 64, 64)),)),
        ("batch", "four"),
    ),
    Case(
        PipelineConfig,
        PipelineConfig(frames=10, warmup=2, image_size=(240, 320), data="photos:4", top_k=3),
        ("image_size", "vga"),
    ),
    Case(
        NodeParams,
        NodeParams(engine="e", compressed=True, reliability="reliable", top_k=3, threads=2),
        ("top_k", "many"),
    ),
    Case(
        OrtOptions,
        OrtOptions(optimization_level="basic", allow_spinning=False, quant_preprocess=False),
        ("allow_spinning", [1]),
    ),
    Case(
        OpenVinoSettings,
        OpenVinoSettings(
            performance_hint="THROUGHPUT",
            streams=2,
            inference_precision="bf16",
            quantizer="nncf",
            nncf_preset="mixed",
            fast_bias_correction=False,
        ),
        ("fast_bias_correction", [1]),
    ),
    Case(
        TorchSettings,
        TorchSettings(
            device="cuda",
            compile="inductor",
            autotune=True,
            artifact="inductor",
            batch="1,8",
            cuda_graphs=False,
            channels_last=True,
            fold_bn=False,
            verify_load=False,
            device_index=1,
        ),
        ("cuda_graphs", [1]),
    ),
    Case(NoOptions, NoOptions(), ("version", "one")),
    Case(
        FinetuneConfig,
        FinetuneConfig(epochs=3, train="fashion-mnist:train", distill=True, lr=1e-3, limit=500),
        ("epochs", "three"),
    ),
    Case(
        PruneConfig,
        PruneConfig(
            method="channel",
            ratio=0.4,
            round_to=16,
            layer_ratios=(("features.0.0", 0.6),),
            ignore=("classifier.1",),
            steps=2,
            finetune=FinetuneConfig(epochs=2, train="photos:100", distill=True),
        ),
        ("ratio", "half"),
    ),
]
# Frozen dataclasses named like configs that are data, versioned by the document holding them
# (the manifest's format_version), with the reason.
NOT_CONFIGS = {
    "TensorSpec": "a tensor's name/dtype/shape inside a versioned manifest",
    "DBConfig": "the text-box post-processing's view of NodeParams' detection fields (versioned there)",
}
DATA_TYPES = [
    Case(TensorSpec, TensorSpec("x", "float32", ("batch", 3, 8, 8)), ("shape", 3)),
    Case(HostInfo, HostInfo("x86_64", "cpu", 4, ("avx2", "fma"), "Linux", "3.11"), ("cpu_count", "many")),
]


def _parse(cls: type, data: Any) -> Any:
    """The class's own ``from_dict`` where it has one (NodeParams keeps ROS coercion)."""
    from_dict = getattr(cls, "from_dict", None)
    return from_dict(data) if from_dict is not None else serde.from_dict(cls, data)


def _default(case: Case) -> Any:
    if case.default is not None:
        return case.default
    return case.cls() if case.cls not in (TensorSpec, HostInfo) else case.other


def _frozen_config_classes() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and CONFIG_NAME.match(node.name):
                for deco in node.decorator_list:
                    frozen = isinstance(deco, ast.Call) and any(
                        k.arg == "frozen" and getattr(k.value, "value", False) for k in deco.keywords
                    )
                    if frozen:
                        found.add(node.name)
    return found


def test_every_config_class_is_listed() -> None:
    listed = {case.cls.__name__ for case in CONFIGS}
    assert _frozen_config_classes() == listed | set(NOT_CONFIGS)


@pytest.mark.parametrize("case", [*CONFIGS, *DATA_TYPES], ids=str)
@pytest.mark.parametrize("which", ["default", "other"])
def test_json_round_trip(case: Case, which: str) -> None:
    obj = _default(case) if which == "default" else case.other
    data = json.loads(json.dumps(obj.to_dict() if hasattr(obj, "to_dict") else serde.to_dict(obj)))
    assert data == serde.to_dict(obj)
    again = _parse(case.cls, data)
    assert again == obj
    assert serde.from_dict(case.cls, data) == obj


@pytest.mark.parametrize("case", CONFIGS, ids=str)
def test_unknown_key_is_refused(case: Case) -> None:
    data = {**serde.to_dict(case.other), "bogus_key": 1}
    with pytest.raises(ConfigError, match="bogus_key"):
        _parse(case.cls, data)


@pytest.mark.parametrize("case", DATA_TYPES, ids=str)
def test_data_types_ignore_unknown_keys(case: Case) -> None:
    """Documents that gain fields within a format version (manifests) stay readable."""
    assert _parse(case.cls, {**serde.to_dict(case.other), "added_later": 1}) == case.other


@pytest.mark.parametrize("case", [*CONFIGS, *DATA_TYPES], ids=str)
def test_wrong_type_is_refused(case: Case) -> None:
    key, value = case.wrong
    data = {**serde.to_dict(case.other), key: value}
    with pytest.raises(ConfigError, match=key):
        _parse(case.cls, data)


@pytest.mark.parametrize("case", CONFIGS, ids=str)
def test_newer_version_is_refused(case: Case) -> None:
    data = serde.to_dict(case.other)
    data["version"] += 1
    with pytest.raises(ConfigError, match="is newer than this edgeinfer supports .*; upgrade edgeinfer"):
        _parse(case.cls, data)
    with pytest.raises(ConfigError, match="upgrade edgeinfer"):
        case.cls(**{**vars(case.other), "version": data["version"]})
