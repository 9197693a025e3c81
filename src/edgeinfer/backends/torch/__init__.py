"""PyTorch: engines built from the PyTorch module behind a model (its ``TorchSource``).

Today the backend runs the module eagerly in FP32: it is the user's starting point that
``optimize`` measures every engine against. Importing this package does not import torch.
"""

from edgeinfer.backends.torch.backend import TorchBackend
from edgeinfer.backends.torch.runner import TorchRunner

__all__ = ["TorchBackend", "TorchRunner"]
