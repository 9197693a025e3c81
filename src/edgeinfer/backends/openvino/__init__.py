"""OpenVINO on the CPU: IR conversion, runtime hints, bf16, INT8 from QDQ ONNX or NNCF.

Importing this package does not import openvino; the backend does on first use.
"""

from edgeinfer.backends.openvino.backend import OpenVinoBackend
from edgeinfer.backends.openvino.runner import OpenVinoRunner

__all__ = ["OpenVinoBackend", "OpenVinoRunner"]
