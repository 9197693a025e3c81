"""PruneConfig / FinetuneConfig: validation with messages that name the fix, JSON round trip."""

from __future__ import annotations

import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.prune import FinetuneConfig, PruneConfig


@pytest.mark.parametrize("ratio", [0, 1, 1.5, -0.1, float("nan"), float("inf"), True])
def test_ratios_outside_zero_one_are_refused(ratio: float) -> None:
    with pytest.raises(ConfigError) as err:
        PruneConfig(ratio=ratio)
    assert str(err.value) == (
        f"--ratio must be a fraction strictly between 0 and 1 (0.5 removes half), got {ratio!r}"
    )


def test_layer_ratios_are_checked_and_kept_in_order() -> None:
    cfg = PruneConfig(ratio=0.5, layer_ratios={"b": 0.4, "a": 0.6})
    assert cfg.layer_ratios == (("b", 0.4), ("a", 0.6))
    assert cfg.ratio_of("a") == 0.6 and cfg.ratio_of("c") == 0.5
    with pytest.raises(ConfigError, match=r"^--layer-ratio conv1 must be a fraction"):
        PruneConfig(layer_ratios=(("conv1", 1.0),))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"method": "magnitude"},
            "unknown pruning method 'magnitude'; use channel or l1-unstructured",
        ),
        ({"round_to": 0}, "--round-to must be 1..1024, got 0"),
        ({"steps": 0}, "--steps must be 1..100, got 0"),
        (
            {"method": "l1-unstructured", "ignore": ("fc",), "steps": 2},
            "--ignore, --steps only apply to --method channel; drop them for l1-unstructured",
        ),
    ],
)
def test_bad_prune_configs(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        PruneConfig(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"epochs": 3},
            "fine-tuning for 3 epochs needs training data; pass --train DATASET (e.g. "
            "fashion-mnist:train, or photos:600 with --distill)",
        ),
        ({"epochs": -1}, "--finetune-epochs must be 0..1000, got -1"),
        ({"lr": 0.0}, "--lr must be in (0, 10], got 0.0"),
        ({"lr": float("nan")}, "--lr must be in (0, 10], got nan"),
        ({"alpha": 1.5}, "--alpha must be in [0, 1], got 1.5"),
        ({"batch_size": 0}, "--batch-size must be >= 1, got 0"),
        ({"augment": "mixup"}, "unknown augmentation 'mixup'; use shift-flip, shift, none"),
        ({"device": "tpu"}, "unknown device 'tpu'; use cpu or cuda"),
        ({"limit": 0}, "--train-limit must be >= 1, got 0"),
    ],
)
def test_bad_finetune_configs(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        FinetuneConfig(**kwargs)
    assert str(err.value) == message


def test_round_trip_through_json() -> None:
    cfg = PruneConfig(
        ratio=0.45,
        round_to=16,
        layer_ratios=(("features.0.0", 0.6),),
        ignore=("features.4.0",),
        steps=2,
        finetune=FinetuneConfig(epochs=4, train="fashion-mnist:train", distill=True, limit=100),
    )
    data = cfg.to_dict()
    assert data["layer_ratios"] == {"features.0.0": 0.6}
    assert data["finetune"]["epochs"] == 4
    assert PruneConfig.from_dict(data) == cfg
    with pytest.raises(ConfigError, match="unknown prune config keys"):
        PruneConfig.from_dict({**data, "sparsity": 0.5})
    with pytest.raises(ConfigError, match="newer"):
        PruneConfig.from_dict({**data, "version": 99})
