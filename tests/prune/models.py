"""Small PyTorch models for the pruning tests, importable as ``tests.prune.models:<name>``.

Each is a real module (seeded weights) with one of the structures pruning must handle or
refuse: plain conv/BN/linear, residual adds that couple channels, depthwise convs, and the
failure modes of Torch-Pruning (data-dependent control flow, hard-coded view, raw parameters
through F.conv2d, depthwise with a channel multiplier).
"""

from __future__ import annotations

from typing import Any

SHAPE = (1, 3, 16, 16)


def _seeded(build: Any, seed: int) -> Any:
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build().eval()


def small_cnn(seed: int = 0, classes: int = 4) -> Any:
    """conv(3->16)-BN-ReLU, conv(16->32, stride 2)-BN-ReLU, average pool, linear(32->classes)."""
    from torch import nn

    def build() -> Any:
        return nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, classes),
        )  # fmt: skip

    return _seeded(build, seed)


def residual(seed: int = 0) -> Any:
    """A stem and two residual blocks added onto it (their outputs are coupled), depthwise
    convs inside, and a classifier."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.expand = nn.Conv2d(c, 2 * c, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(2 * c)
            self.dw = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=False)
            self.project = nn.Conv2d(2 * c, c, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.dw(torch.relu(self.bn1(self.expand(x)))))
            return x + self.bn2(self.project(y))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, padding=1)
            self.blocks = nn.Sequential(Block(16), Block(16))
            self.fc = nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.flatten(self.blocks(self.stem(x)).mean((2, 3), keepdim=True), 1))

    return _seeded(Net, seed)


def branchy() -> Any:
    """Data-dependent control flow: one of two convs runs depending on the input's mean."""
    import torch
    from torch import nn

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 16, 3, padding=1)
            self.a = nn.Conv2d(16, 16, 3, padding=1)
            self.b = nn.Conv2d(16, 16, 3, padding=1)
            self.fc = nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.c1(x))
            x = self.a(x) if x.mean() > 0 else self.b(x)
            return self.fc(x.mean((2, 3)))

    return _seeded(Branchy, 0)


def hard_view() -> Any:
    """``x.view(-1, 32 * 8 * 8)``: the literal size stays after its channels are pruned."""
    import torch
    from torch import nn

    class HardView(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 16, 3, padding=1)
            self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
            self.fc = nn.Linear(32 * 8 * 8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.c2(torch.relu(self.c1(x))))
            return self.fc(x.view(-1, 32 * 8 * 8))

    return _seeded(HardView, 0)


def unwrapped() -> Any:
    """A raw ``nn.Parameter`` used through ``F.conv2d``."""
    import torch
    from torch import nn

    class Unwrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 16, 3, padding=1)
            self.w = nn.Parameter(torch.randn(16, 16, 3, 3) * 0.1)
            self.fc = nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = nn.functional.conv2d(torch.relu(self.c1(x)), self.w, padding=1)
            return self.fc(x.mean((2, 3)))

    return _seeded(Unwrapped, 0)


def depthwise_multiplier() -> Any:
    """``Conv2d(16, 32, groups=16)``: depthwise with a channel multiplier of 2."""
    from torch import nn

    def build() -> Any:
        return nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, groups=16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4),
        )  # fmt: skip

    return _seeded(build, 0)


def not_a_module() -> Any:
    return {"weights": 1}
