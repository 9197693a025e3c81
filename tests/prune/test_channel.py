"""Channel pruning on small real modules: planned widths, couplings, and the refusals that
name the layer and the fix (Torch-Pruning's measured failure modes)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from edgeinfer.prune import PruneConfig  # noqa: E402
from edgeinfer.prune.analysis import PruneError, output_layers, widths  # noqa: E402
from edgeinfer.prune.channel import plan, prune_channels, step_targets  # noqa: E402
from edgeinfer.prune.run import prune  # noqa: E402
from tests.prune import models  # noqa: E402

SHAPE = models.SHAPE


def _plan(module: object, **kwargs: object) -> dict[str, tuple[int, int]]:
    x = torch.zeros(SHAPE)
    groups = plan(module, x, PruneConfig(**kwargs), output_layers(module, x))
    return {g.root: (g.width, g.keep) for g in groups}


def test_plan_rounds_kept_channels_down_to_the_multiple() -> None:
    m = models.small_cnn()
    assert output_layers(m, torch.zeros(SHAPE)) == ["8"]  # the classifier is never pruned
    assert _plan(m, ratio=0.5, round_to=8) == {"0": (16, 8), "3": (32, 16)}
    assert _plan(m, ratio=0.3, round_to=8) == {"0": (16, 8), "3": (32, 16)}  # 11 -> 8, 22 -> 16
    assert _plan(m, ratio=0.3, round_to=1) == {"0": (16, 11), "3": (32, 22)}
    # rounding never removes a layer: 0.9 keeps int(1.6) = 1 channel, rounded up to one multiple
    assert _plan(m, ratio=0.9, round_to=8) == {"0": (16, 8), "3": (32, 8)}
    assert _plan(m, ratio=0.5, round_to=8, layer_ratios={"3": 0.75}) == {"0": (16, 8), "3": (32, 8)}


def test_a_ratio_that_removes_a_whole_layer_is_refused() -> None:
    with pytest.raises(PruneError) as err:
        _plan(models.small_cnn(), ratio=0.97)
    assert str(err.value) == (
        "ratio 0.97 would remove every one of the 16 channels of layer '0' (the whole layer); "
        "use a ratio <= 0.938 for it (--ratio or --layer-ratio 0=R), or --ignore 0"
    )


def test_unknown_layer_names_are_refused() -> None:
    with pytest.raises(
        PruneError, match=r"^the model has no layer 'conv9'; layer names look like: 0, 3, 8$"
    ):
        _plan(models.small_cnn(), ratio=0.5, layer_ratios={"conv9": 0.5})


def test_residual_and_depthwise_couplings_stay_consistent() -> None:
    m = models.residual()
    x = torch.randn(2, *SHAPE[1:])
    groups = plan(m, x[:1], PruneConfig(ratio=0.5), output_layers(m, x[:1]))
    coupled = next(g for g in groups if g.root == "stem")
    # the stem and both blocks' projections are added together: one group, one width
    assert set(coupled.layers) == {"stem", "blocks.0.project", "blocks.1.project"}
    prune_channels(m, x[:1], {g.root: g.keep for g in groups}, ["fc"])
    w = widths(m)
    assert w["stem"] == w["blocks.0.project"] == w["blocks.1.project"] == 8
    for b in ("blocks.0", "blocks.1"):
        dw = dict(m.named_modules())[f"{b}.dw"]
        assert dw.groups == dw.in_channels == dw.out_channels == w[f"{b}.expand"] == 16
    assert m(x).shape == (2, 4)


def test_coupled_layers_need_one_ratio() -> None:
    with pytest.raises(
        PruneError, match="are coupled .pruned together. but got different --layer-ratio"
    ):
        _plan(models.residual(), ratio=0.5, layer_ratios={"stem": 0.5, "blocks.0.project": 0.25})


def test_iterative_steps_interpolate_to_the_plan() -> None:
    m = models.small_cnn()
    x = torch.zeros(SHAPE)
    groups = plan(m, x, PruneConfig(ratio=0.75, round_to=1), ["8"])
    assert step_targets(groups, 3, 1) == [{"0": 12, "3": 24}, {"0": 8, "3": 16}, {"0": 4, "3": 8}]
    assert step_targets(groups, 1, 1) == [{"0": 4, "3": 8}]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            "branchy",
            "cannot trace the model for channel pruning: its forward() branches on tensor values "
            "(a tensor converted to a Python boolean, e.g. if x.mean() > 0), so only the branch "
            "the example input takes would be pruned; make forward() data-independent, or use "
            "--method l1-unstructured",
        ),
        (
            "hard_view",
            "the pruned model fails at batch 1: shape '[-1, 2048]' is invalid for input of size "
            "1024; its forward() probably hard-codes a size (e.g. x.view(-1, 1568)): use "
            "torch.flatten(x, 1) or sizes read from the tensor",
        ),
        (
            "unwrapped",
            "parameter 'w' [16, 16, 3, 3] is used through a functional call (e.g. F.conv2d(x, "
            "self.weight)) that the dependency graph cannot resize, so the layers around it "
            "would not be pruned; wrap it in nn.Conv2d/nn.Linear, or use --method l1-unstructured",
        ),
        (
            "depthwise_multiplier",
            "layer '2' is a grouped convolution with a channel multiplier (16 -> 32 channels, "
            "groups=16), which channel pruning cannot keep consistent; use --method "
            "l1-unstructured, or make it depthwise (in == out channels)",
        ),
    ],
)
def test_what_channel_pruning_cannot_handle_is_refused(
    factory: str, message: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    with pytest.raises(PruneError) as err:
        prune(f"tests.prune.models:{factory}", PruneConfig(ratio=0.5), out, input_shape=SHAPE)
    assert str(err.value) == message
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


def test_unstructured_handles_what_channel_pruning_refuses() -> None:
    result = prune(
        "tests.prune.models:depthwise_multiplier",
        PruneConfig(method="l1-unstructured", ratio=0.5),
        input_shape=SHAPE,
    )
    assert [round(layer.sparsity, 2) for layer in result.record.layers] == [0.5, 0.5, 0.5]
    assert result.record.macs_after == result.record.macs_before
