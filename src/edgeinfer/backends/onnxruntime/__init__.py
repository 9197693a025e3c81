"""ONNX Runtime on the CPU: offline graph optimization, QDQ INT8, IO-bound persistent buffers.

Importing this package does not import onnxruntime; the backend does on first use.
"""

from edgeinfer.backends.onnxruntime.backend import OnnxRuntimeBackend
from edgeinfer.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeinfer.backends.onnxruntime.settings import PAYLOAD, OrtOptions, session_options

__all__ = ["PAYLOAD", "OnnxRuntimeBackend", "OnnxRuntimeRunner", "OrtOptions", "session_options"]
