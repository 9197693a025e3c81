"""The model zoo: real models from packages, ready for ``edgeinfer`` (``edgeinfer zoo``).

    >>> from edgeinfer import zoo
    >>> zoo.list_models()
    ['fashion-cnn', 'mobilenetv2-imagenet', 'mobilenetv3-large', 'ppocr-det', 'resnet18', ...]
    >>> model = zoo.get_model("fashion-cnn")   # a Model with preprocess/labels/task metadata

Entries are registered with :func:`register_model` (timm style); their static facts are a
:class:`ZooEntry`. Importing this package does not import torch.
"""

from __future__ import annotations

from edgeinfer.zoo.entries import torch_module  # importing entries registers the models
from edgeinfer.zoo.registry import (
    Availability,
    Built,
    ZooEntry,
    availability,
    get_entry,
    get_model,
    list_models,
    register_model,
    save_model,
)

__all__ = [
    "Availability",
    "Built",
    "ZooEntry",
    "availability",
    "get_entry",
    "get_model",
    "list_models",
    "register_model",
    "save_model",
    "torch_module",
]
