"""PyTorch definitions of the zoo's architectures (imports torch: load lazily).

MobileNetV2, MobileNetV3-Large and ResNet-18/50 reproduce torchvision's modules with
EXACTLY torchvision's attribute names, so a torchvision-format state dict loads with
``strict=True`` without torchvision installed (it is not a dependency). ``FashionCNN`` is
the project's own small Fashion-MNIST classifier (trained by ``scripts/train_fashion.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn

__all__ = [
    "FashionCNN",
    "MobileNetV2",
    "MobileNetV3",
    "ResNet",
    "fashion_cnn",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "resnet18",
    "resnet50",
]


def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels as torchvision does (from the original TensorFlow MobileNet code)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation, as ``torchvision.ops.Conv2dNormActivation``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU,
        dilation: int = 1,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            norm_layer(out_channels),
        ]
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)


# -- MobileNetV2 ---------------------------------------------------------------------------
class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1, depthwise 3x3, project 1x1 (+ residual)."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden, 1, activation_layer=nn.ReLU6))
        layers += [
            Conv2dNormActivation(
                hidden, hidden, stride=stride, groups=hidden, activation_layer=nn.ReLU6
            ),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """``torchvision.models.mobilenet_v2`` (width 1.0)."""

    # (expansion t, channels c, repeats n, first stride s)
    SETTING: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        inp, last = 32, 1280
        features: list[nn.Module] = [
            Conv2dNormActivation(3, inp, stride=2, activation_layer=nn.ReLU6)
        ]
        for t, c, n, s in self.SETTING:
            for i in range(n):
                features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        features.append(Conv2dNormActivation(inp, last, 1, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last, num_classes))
        _init_weights(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (logits) ``[N, num_classes]`` for an image batch ``x`` ``[N, 3, H, W]``."""
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


# -- MobileNetV3-Large ---------------------------------------------------------------------
class SqueezeExcitation(nn.Module):
    """``torchvision.ops.SqueezeExcitation`` with a hard-sigmoid gate (as MobileNetV3 uses)."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class V3Block(nn.Module):
    """MobileNetV3 inverted residual (torchvision's ``mobilenetv3.InvertedResidual``)."""

    def __init__(
        self, inp: int, kernel: int, exp: int, out: int, se: bool, hs: bool, stride: int
    ) -> None:
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        act = nn.Hardswish if hs else nn.ReLU
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if exp != inp:
            layers.append(Conv2dNormActivation(inp, exp, 1, norm_layer=norm, activation_layer=act))
        layers.append(
            Conv2dNormActivation(
                exp, exp, kernel, stride, groups=exp, norm_layer=norm, activation_layer=act
            )
        )
        if se:
            layers.append(SqueezeExcitation(exp, _make_divisible(exp // 4, 8)))
        layers.append(Conv2dNormActivation(exp, out, 1, norm_layer=norm, activation_layer=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.use_res_connect else self.block(x)


# (input, kernel, expanded, out, use_se, hard-swish, stride) of torchvision's "large" config
_V3_LARGE = (
    (16, 3, 16, 16, False, False, 1),
    (16, 3, 64, 24, False, False, 2),
    (24, 3, 72, 24, False, False, 1),
    (24, 5, 72, 40, True, False, 2),
    (40, 5, 120, 40, True, False, 1),
    (40, 5, 120, 40, True, False, 1),
    (40, 3, 240, 80, False, True, 2),
    (80, 3, 200, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 480, 112, True, True, 1),
    (112, 3, 672, 112, True, True, 1),
    (112, 5, 672, 160, True, True, 2),
    (160, 5, 960, 160, True, True, 1),
    (160, 5, 960, 160, True, True, 1),
)


class MobileNetV3(nn.Module):
    """``torchvision.models.mobilenet_v3_large``."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        layers: list[nn.Module] = [
            Conv2dNormActivation(3, 16, stride=2, norm_layer=norm, activation_layer=nn.Hardswish)
        ]
        layers += [V3Block(*cfg) for cfg in _V3_LARGE]
        layers.append(
            Conv2dNormActivation(160, 960, 1, norm_layer=norm, activation_layer=nn.Hardswish)
        )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(960, 1280),
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(1280, num_classes),
        )
        _init_weights(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (logits) ``[N, num_classes]`` for an image batch ``x`` ``[N, 3, H, W]``."""
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


# -- ResNet --------------------------------------------------------------------------------
def _conv(inp: int, out: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inp, out, k, stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """ResNet V1.5 bottleneck (stride on the 3x3 conv), as torchvision."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv(planes, planes * 4, 1)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    """``torchvision.models.ResNet``."""

    def __init__(
        self, block: type[BasicBlock | Bottleneck], layers: tuple[int, ...], num_classes: int = 1000
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self, linear_std=None)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv(self.inplanes, planes * block.expansion, 1, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (logits) ``[N, num_classes]`` for an image batch ``x`` ``[N, 3, H, W]``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- Fashion-MNIST CNN ---------------------------------------------------------------------
class FashionCNN(nn.Module):
    """Small conv-bn-relu classifier for 1x28x28 images (about 0.2 M parameters)."""

    def __init__(self, width: int = 32, num_classes: int = 10, dropout: float = 0.2) -> None:
        super().__init__()
        w = width

        def block(i: int, o: int, stride: int = 1) -> Conv2dNormActivation:
            return Conv2dNormActivation(i, o, stride=stride)

        self.features = nn.Sequential(
            block(1, w),  # 28x28
            block(w, 2 * w, stride=2),  # 14x14
            block(2 * w, 2 * w),
            block(2 * w, 4 * w, stride=2),  # 7x7
            block(4 * w, 4 * w),
        )
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(4 * w, num_classes))
        _init_weights(self, linear_std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (logits) ``[N, num_classes]`` for an image batch ``x`` ``[N, 1, H, W]``."""
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def _init_weights(model: nn.Module, linear_std: float | None) -> None:
    """Initialize as torchvision does: Kaiming fan-out convs, unit BN, small linear layers."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0, linear_std)
            nn.init.zeros_(m.bias)


def mobilenet_v2() -> MobileNetV2:
    """MobileNetV2 (ImageNet, 1000 classes) as torchvision defines it, untrained."""
    return MobileNetV2()


def mobilenet_v3_large() -> MobileNetV3:
    """MobileNetV3-Large (ImageNet, 1000 classes) as torchvision defines it, untrained."""
    return MobileNetV3()


def resnet18() -> ResNet:
    """ResNet-18 (ImageNet, 1000 classes) as torchvision defines it, untrained."""
    return ResNet(BasicBlock, (2, 2, 2, 2))


def resnet50() -> ResNet:
    """ResNet-50 (ImageNet, 1000 classes) as torchvision defines it, untrained."""
    return ResNet(Bottleneck, (3, 4, 6, 3))


def fashion_cnn(width: int = 32) -> FashionCNN:
    """The small Fashion-MNIST CNN (``width`` channels in the first block), untrained."""
    return FashionCNN(width=width)
