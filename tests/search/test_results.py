from __future__ import annotations

import json

from edgeinfer.config import BuildConfig
from edgeinfer.search.results import CandidateResult, MixedReport, OptimizeResult

from .synthetic import fidelity, labelled


def test_optimize_result_json_round_trip() -> None:
    a = labelled("a", 1.0, 0.1)
    a.config = BuildConfig(
        "onnxruntime", "int8", 2, calibration={"method": "minmax"}, exclude=("conv1",)
    )
    a.samples_ms = [0.9, 1.0, 1.1]
    b = fidelity("b", 2.0, 0.99)
    b.error = "boom"
    res = OptimizeResult(
        model={"name": "m"},
        config={"x": 1},
        mode="labels",
        data_note="eval on x",
        candidates=[a, b, CandidateResult("c", None, kind="baseline")],
        pareto=["a"],
        winner="a",
        mixed=[
            MixedReport(
                "int8",
                "int8+1fp32",
                ("conv1",),
                (("conv1", 0.05),),
                ((1, 0.99, True),),
                True,
                1.1,
                "",
            )
        ],
    )
    data = json.loads(json.dumps(res.to_dict()))
    back = OptimizeResult.from_dict(data)
    assert back.to_dict() == res.to_dict()
    assert back.candidate("a").config == a.config
    assert back.candidate("a").quality == a.quality
    assert back.mixed[0] == res.mixed[0]
