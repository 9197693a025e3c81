"""Backend options: BuildConfig.options parsed once into each backend's typed options."""

from __future__ import annotations

from typing import Any

import pytest

from edgeinfer.backends import get_backend
from edgeinfer.backends.base import Backend
from edgeinfer.backends.onnxruntime import OrtOptions
from edgeinfer.backends.openvino.settings import OpenVinoSettings
from edgeinfer.backends.options import NoOptions, option_names, parse_options
from edgeinfer.config import BuildConfig
from edgeinfer.errors import ConfigError


def test_options_are_typed_and_parsed_once() -> None:
    ort = get_backend("onnxruntime")
    config = BuildConfig(options={"optimization_level": "basic", "allow_spinning": "false"})
    options = ort.options(config)
    assert options == OrtOptions(optimization_level="basic", allow_spinning=False)
    assert ort.options(BuildConfig.from_dict(config.to_dict())) is options  # memoized
    assert ort.options(BuildConfig()) == OrtOptions()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("yes", True), ("on", True), (1, True), ("0", False), ("off", False)],
)
def test_bool_options_take_the_usual_spellings(value: Any, expected: bool) -> None:
    parsed = parse_options(OpenVinoSettings, "openvino", (("fast_bias_correction", value),))
    assert parsed.fast_bias_correction is expected


def test_option_values_are_converted_to_their_field() -> None:
    parsed = parse_options(OpenVinoSettings, "openvino", (("streams", 2), ("quantizer", "nncf")))
    assert parsed.streams == "2" and parsed.num_streams == "2" and parsed.quantizer == "nncf"
    assert parse_options(OpenVinoSettings, "openvino", (("streams", "auto"),)).streams == "AUTO"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            (("colour", "red"),),
            "unknown onnxruntime option(s) ['colour']; valid: optimization_level, "
            "allow_spinning, quant_preprocess, reduce_range, quantize_outputs, bias_correction",
        ),
        (
            (("version", 2),),  # the options' format version is not an option
            "unknown onnxruntime option(s) ['version']; valid: optimization_level, "
            "allow_spinning, quant_preprocess, reduce_range, quantize_outputs, bias_correction",
        ),
        (
            (("allow_spinning", "maybe"),),
            "onnxruntime option allow_spinning must be true or false, got 'maybe'",
        ),
        (
            (("optimization_level", "max"),),
            "unknown ONNX Runtime optimization_level 'max'; choose one of disable, basic, "
            "extended, all",
        ),
    ],
)
def test_bad_options(items: tuple[tuple[str, Any], ...], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_options(OrtOptions, "onnxruntime", items)
    assert str(info.value) == message


def test_a_backend_without_options_refuses_every_option() -> None:
    class Bare(Backend):
        name = "bare-test"
        distribution = "onnxruntime"
        module = "onnxruntime"

        def build(self, model, config, directory, **kwargs):  # type: ignore[no-untyped-def]
            raise AssertionError

        def runner(self, engine, **options):  # type: ignore[no-untyped-def]
            raise AssertionError

    bare = Bare()
    assert bare.options(BuildConfig(backend="bare-test")) == NoOptions()
    assert option_names(NoOptions) == ()
    with pytest.raises(
        ConfigError, match=r"^unknown bare-test option\(s\) \['x'\]; the bare-test backend takes none$"
    ):
        bare.check_config(BuildConfig(backend="bare-test", options={"x": 1}))
