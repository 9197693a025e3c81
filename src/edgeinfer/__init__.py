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
    "load_runner",
]


def __getattr__(name: str) -> object:
    # Lazy re-exports keep `import edgeinfer` fast and free of numpy/onnx work until needed.
    if name in {"Model", "TensorSpec"}:
        from edgeinfer import model

        return getattr(model, name)
    if name in {"Engine", "BuildConfig", "build"}:
        from edgeinfer import engine

        return getattr(engine, name)
    if name in {"load_runner", "list_backends"}:
        from edgeinfer import backends

        return getattr(backends, name)
    raise AttributeError(f"module 'edgeinfer' has no attribute {name!r}")
