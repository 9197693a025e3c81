"""One ``--preprocess`` syntax: round trip, fit to a model input, never a silent guess."""

from __future__ import annotations

import pytest

from edgeinfer.data.specs import (
    format_preprocess,
    no_spec_fix,
    parse_preprocess,
    resolve_preprocess,
    spec_problems,
)
from edgeinfer.errors import DataError
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec

from ..conftest import make_conv_relu


@pytest.mark.parametrize(
    "spec",
    [
        PreprocessSpec.imagenet(),
        PreprocessSpec(size=(28, 28), resize="none", color="gray"),
        PreprocessSpec(size=(16, 32), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), color="bgr"),
        PreprocessSpec(size=(8, 8), layout="NHWC", dtype="uint8", interpolation="bicubic"),
        PreprocessSpec(size=(640, 640), scale=1.0, mean=(123.675, 116.28, 103.53)),
    ],
)
def test_format_reads_back_as_the_same_spec(spec: PreprocessSpec) -> None:
    assert parse_preprocess(format_preprocess(spec)) == spec


def test_format_leaves_defaults_out() -> None:
    assert format_preprocess(PreprocessSpec(size=(16, 16))) == "size=16x16"
    assert format_preprocess(PreprocessSpec.imagenet()) == (
        "size=224x224,resize=shorter,resize_shorter=256,mean=0.485/0.456/0.406,"
        "std=0.229/0.224/0.225"
    )


def test_spec_problems_name_what_does_not_fit() -> None:
    model = Model.from_proto(make_conv_relu())  # x: float32[batch,3,16,16]
    assert spec_problems(PreprocessSpec(size=(16, 16)), model) == []
    assert spec_problems(PreprocessSpec(size=(32, 32)), model) == [
        "gives 32x32 (HxW) but input 'x' is float32[batch,3,16,16]"
    ]
    assert spec_problems(PreprocessSpec(size=(16, 16), color="gray"), model) == [
        "gives 1 channel(s) in NCHW but input 'x' is float32[batch,3,16,16]"
    ]
    nhwc = spec_problems(PreprocessSpec(size=(16, 16), layout="NHWC"), model)
    assert nhwc and nhwc[0].startswith("gives 3 channel(s) in NHWC")


def test_images_without_a_spec_are_refused_with_an_example_that_fits() -> None:
    from edgeinfer.data.datasets import open_dataset

    model = Model.from_proto(make_conv_relu())
    with pytest.raises(DataError) as exc:
        resolve_preprocess(open_dataset("photos:2"), model)
    assert "edgeinfer does not guess one" in str(exc.value)
    assert "pass --preprocess size=16x16,mean=M1/M2/M3,std=S1/S2/S3" in str(exc.value)
    assert no_spec_fix(None).startswith("pass --preprocess size=HxW,resize=direct,")
