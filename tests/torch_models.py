"""PyTorch twins of the tiny ONNX test graphs in tests/conftest.py (same weights), so the
Runner contract tests also run over backends that build from a PyTorch module.

Each factory is importable as ``tests.torch_models:<name>`` (a :class:`TorchSource`).
"""

from __future__ import annotations

from typing import Any

import onnx
from onnx import numpy_helper

from edgeinfer.model import Model
from edgeinfer.source import TorchSource


def _weights(proto: onnx.ModelProto) -> dict[str, Any]:
    import torch

    return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}


def conv_relu(seed: int = 0) -> Any:
    """:func:`tests.conftest.make_conv_relu` as ``Conv2d(3, 8, 3, padding=1) + ReLU``."""
    import torch

    from tests.conftest import make_conv_relu

    w = _weights(make_conv_relu(seed=seed))
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(w["W"])
        conv.bias.copy_(w["B"])
    return torch.nn.Sequential(conv, torch.nn.ReLU())


def matmul(seed: int = 0) -> Any:
    """:func:`tests.conftest.make_matmul` (``a @ W + b``)."""
    import torch

    from tests.conftest import make_matmul

    w = _weights(make_matmul(seed=seed))
    lin = torch.nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.copy_(w["W"].T)
        lin.bias.copy_(w["b"])
    return lin


def two_inputs() -> Any:
    """``(b, a) -> (b - a, argmax(a, 1))``: the two-input, two-output contract model."""
    import torch

    class TwoInputs(torch.nn.Module):
        def forward(self, b: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return b - a, a.argmax(dim=1)

    return TwoInputs()


def nonzero() -> Any:
    """``x -> NonZero(x)`` shaped ``[1, k]`` (a data-dependent output shape)."""
    import torch

    class NonZero(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nonzero(x).T

    return NonZero()


def classifier(seed: int = 0) -> Any:
    """:func:`tests.search.tiny.make_classifier` (Conv, ReLU, average pool, Linear)."""
    import torch

    from tests.search.tiny import make_classifier

    w = _weights(make_classifier(seed=seed))
    conv, fc = torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.Linear(16, 10)
    with torch.no_grad():
        conv.weight.copy_(w["W"])
        conv.bias.copy_(w["B"])
        fc.weight.copy_(w["Wfc"])
        fc.bias.copy_(w["Bfc"])
    pool = torch.nn.AdaptiveAvgPool2d(1)
    return torch.nn.Sequential(conv, torch.nn.ReLU(), pool, torch.nn.Flatten(), fc)


def with_torch(model: Model, factory: str, **kwargs: Any) -> Model:
    """``model`` with the PyTorch twin ``tests.torch_models:<factory>`` attached."""
    model.torch_source = TorchSource(f"tests.torch_models:{factory}", tuple(kwargs.items()))
    return model


def data_dependent() -> Any:
    """A module whose forward branches on a tensor value: it runs eagerly but cannot be
    exported (torch.export needs one graph for every input).
    """
    import torch

    class Branchy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:
                return x * 2
            return x - 1

    return Branchy()
