"""The architectures match torchvision's (parameter counts as torchvision documents them)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edgeinfer.zoo import archs  # noqa: E402

# torchvision's documented parameter counts (weights tables of torchvision.models)
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872,
    "mobilenet_v3_large": 5_483_032,
}


@pytest.mark.parametrize("arch", sorted(TORCHVISION_PARAMS))
def test_parameter_count_matches_torchvision(arch: str) -> None:
    module = getattr(archs, arch)()
    assert sum(p.numel() for p in module.parameters()) == TORCHVISION_PARAMS[arch]


def test_torchvision_state_dict_names() -> None:
    keys = set(archs.resnet18().state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "fc.bias"} <= keys
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.1.weight" in keys
    v3 = set(archs.mobilenet_v3_large().state_dict())
    assert "features.4.block.2.fc1.weight" in v3  # squeeze-excitation of the first SE block
    assert "classifier.3.weight" in v3 and "features.16.0.weight" in v3


def test_export_restores_torch_rng(tmp_path: object) -> None:
    from pathlib import Path

    from edgeinfer.zoo.export import export_torch

    torch.manual_seed(123)
    before = torch.get_rng_state()
    export_torch("fashion_cnn", Path(str(tmp_path)) / "m.onnx", input_shape=(1, 1, 28, 28))
    assert torch.equal(before, torch.get_rng_state())
