"""edgeinfer: make trained neural networks fast enough for robots.

Importing this package is cheap: it loads neither torch, openvino, rclpy nor tensorrt.
Backends and optional features import their heavy dependencies on first use.
"""

from __future__ import annotations

from edgeinfer.errors import EdgeInferError

__version__ = "0.1.0"

__all__ = [
    "BuildConfig",
    "EdgeInferError",
    "Engine",
    "Model",
    "TensorSpec",
    "__version__",
    "build",
    "list_backends",
    "load_engine",
    "load_runner",
    "optimize",
]


def __getattr__(name: str) -> object:
    # Lazy re-exports keep `import edgeinfer` fast and free of numpy/onnx work until needed.
    if name in {"Model", "TensorSpec"}:
        from edgeinfer import model

        return getattr(model, name)
    if name == "Engine":
        from edgeinfer import engine

        return engine.Engine
    if name == "BuildConfig":
        from edgeinfer import config

        return config.BuildConfig
    if name in {"build", "load_engine", "load_runner"}:
        from edgeinfer import builder

        return getattr(builder, name)
    if name == "optimize":
        from edgeinfer import api

        return api.optimize
    if name == "list_backends":
        from edgeinfer import backends

        return backends.list_backends
    raise AttributeError(f"module 'edgeinfer' has no attribute {name!r}")
