"""Model: a validated ONNX graph plus its input/output specs, content hash and metadata.

:class:`~edgeinfer.tensors.TensorSpec` is re-exported here for convenience.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.errors import EdgeInferError, ModelError, first_line
from edgeinfer.fileio import atomic_write_bytes, cache_dir, open_regular
from edgeinfer.source import TorchSource, weights_hash
from edgeinfer.tensors import Dim, TensorSpec, random_feed

if TYPE_CHECKING:
    import numpy as np
    import onnx

# Metadata keys edgeinfer stores in ONNX ``metadata_props``.
META_PREFIX = "edgeinfer."

_PROTO_SIZE_LIMIT = 2**31 - 1
EXPORT_OPSET = 17


def _value_info_spec(vi: onnx.ValueInfoProto) -> TensorSpec:
    import onnx

    tt = vi.type.tensor_type
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
    except Exception:
        dtype = f"onnx:{tt.elem_type}"
    dims: list[Dim] = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or f"d{i}")
    return TensorSpec(vi.name, dtype, tuple(dims))


class Model:
    """A validated ONNX model, and the PyTorch source it came from when there is one.

    Build one with :meth:`Model.load` (a file, external data allowed),
    :meth:`Model.from_proto` (in memory) or :meth:`Model.from_torch` (a PyTorch module
    exported to ONNX, cached). All run the ONNX checker and shape inference. Backends that
    build from the module (``torch``) and pruning use :attr:`torch_source`; the others build
    from the ONNX graph, so every backend sees the same weights.
    """

    def __init__(
        self,
        proto: onnx.ModelProto,
        path: Path | None = None,
        *,
        torch_source: TorchSource | None = None,
    ) -> None:
        self._proto = proto
        self.path = path
        self.torch_source = torch_source
        graph_inits = {i.name for i in proto.graph.initializer}
        self.inputs = tuple(
            _value_info_spec(v) for v in proto.graph.input if v.name not in graph_inits
        )
        self.outputs = tuple(_value_info_spec(v) for v in proto.graph.output)
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.producer = f"{proto.producer_name} {proto.producer_version}".strip()
        self.metadata: dict[str, str] = {p.key: p.value for p in proto.metadata_props}
        self._hash: str | None = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Load, check and shape-infer an ONNX file.

        Raises:
            ModelError: the file is missing, is not ONNX, or fails the ONNX checker.
        """
        import onnx

        p = Path(path)
        if not p.exists():
            raise ModelError(f"model file '{p}' does not exist; check the path")
        if p.is_dir():
            raise ModelError(
                f"'{p}' is a directory, not an ONNX file; pass the .onnx file "
                "(or use an engine directory where an engine is accepted)"
            )
        try:
            open_regular(p, "model").close()  # a FIFO or device would block or never end
        except EdgeInferError as exc:
            raise ModelError(f"{exc}; pass an ONNX file") from None
        except OSError as exc:
            raise ModelError(f"cannot read model file '{p}' ({exc.strerror}); check it") from exc
        try:
            proto = onnx.load(str(p), load_external_data=True)
        except Exception as exc:
            raise ModelError(
                f"'{p}' is not a readable ONNX model ({type(exc).__name__}: {exc}); "
                "export the model to ONNX first (e.g. torch.onnx.export)"
            ) from exc
        for init in proto.graph.initializer:  # loaded external data: same bytes as in-memory
            if init.HasField("data_location") and not init.external_data:
                init.ClearField("data_location")
        if not proto.graph.node and not proto.graph.output:
            raise ModelError(
                f"'{p}' is not an ONNX model (no graph found); export the model to ONNX first"
            )
        return cls.from_proto(proto, path=p)

    @classmethod
    def from_proto(cls, proto: onnx.ModelProto, path: Path | None = None) -> Model:
        """Check and shape-infer an in-memory model."""
        import onnx

        where = f"'{path}'" if path else "the model"
        large = proto.ByteSize() > _PROTO_SIZE_LIMIT
        try:
            if large and path is not None:
                onnx.checker.check_model(str(path))
            else:
                onnx.checker.check_model(proto)
        except Exception as exc:
            first = first_line(exc)
            raise ModelError(
                f"{where} is not a valid ONNX graph: {first}; fix the exporter output "
                "(onnx.checker.check_model shows the full report)"
            ) from exc
        if not large:
            try:
                proto = onnx.shape_inference.infer_shapes(proto)
            except Exception:
                pass
        return cls(proto, path)

    @classmethod
    def from_torch(cls, source: TorchSource, *, quiet: bool | None = True) -> Model:
        """Export a PyTorch source to ONNX (cached by its description and weights) and load it.

        The export uses the TorchScript exporter at opset 17 with input ``input``, output
        ``logits`` (one output) or ``output_<i>``, and a dynamic batch dimension.

        Raises:
            ModelError: no ``input_shape``, the factory fails, or the export fails (e.g. a
                ``forward`` with data-dependent control flow or hard-coded shapes).
            MissingExtraError: torch is not installed.
        """
        if source.input_shape is None:
            raise ModelError(
                f"PyTorch source {source.describe()} needs an input shape to export; give one, "
                "e.g. --input-shape 1x3x224x224"
            )
        module = source.load()
        key = hashlib.sha256(f"{source.key()}|{weights_hash(module)}".encode()).hexdigest()[:32]
        path = cache_dir() / "sources" / key / "model.onnx"
        if not path.exists():
            export_onnx(module, source.input_shape, path)
        model = cls.load(path)
        model.torch_source = source
        return model

    # -- properties ---------------------------------------------------------------------
    @property
    def proto(self) -> onnx.ModelProto:
        """The ONNX ``ModelProto`` (treat it as read-only: passes copy it)."""
        return self._proto

    @property
    def large(self) -> bool:
        """Whether the model is over protobuf's 2 GiB limit (files keep external data)."""
        return self._proto.ByteSize() > _PROTO_SIZE_LIMIT

    @property
    def hash(self) -> str:
        """SHA-256 of the model including its external data (hex)."""
        if self._hash is None:
            h = hashlib.sha256()
            if self._proto.ByteSize() <= _PROTO_SIZE_LIMIT:
                h.update(self._proto.SerializeToString(deterministic=True))
            else:  # too large to serialize in one piece: hash the tensors one by one
                for init in self._proto.graph.initializer:
                    h.update(init.name.encode())
                    h.update(init.raw_data)
                h.update(self._proto.graph.SerializeToString(deterministic=True)[: 1 << 20])
            self._hash = h.hexdigest()
        return self._hash

    @property
    def name(self) -> str:
        """The edgeinfer metadata ``name`` (zoo models), else the file stem, else the graph name."""
        named = self.meta("name")
        if isinstance(named, str) and named:
            return named
        return self.path.stem if self.path else (self._proto.graph.name or "model")

    def meta(self, key: str) -> Any:
        """Return edgeinfer metadata ``key`` (JSON-decoded), or None.

        Raises:
            ModelError: the value is not JSON (edited or written by another tool).
        """
        raw = self.metadata.get(META_PREFIX + key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ModelError(
                f"model '{self.path or self._proto.graph.name}' has metadata "
                f"'{META_PREFIX}{key}' that is not JSON; fix or remove it (onnx metadata_props)"
            ) from None

    def with_meta(self, **entries: Any) -> Model:
        """A copy with edgeinfer metadata set (JSON-encoded into ONNX ``metadata_props``)."""
        import onnx

        proto = onnx.ModelProto()
        proto.CopyFrom(self._proto)
        props = {p.key: p.value for p in proto.metadata_props}
        for k, v in entries.items():
            props[META_PREFIX + k] = json.dumps(v, sort_keys=True)
        del proto.metadata_props[:]
        onnx.helper.set_model_props(proto, props)
        return Model(proto, self.path, torch_source=self.torch_source)

    def input(self, name: str) -> TensorSpec:
        """The spec of input ``name``.

        Raises:
            ModelError: the model has no such input (the message lists its inputs).
        """
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise ModelError(
            f"model has no input '{name}'; its inputs are " + ", ".join(s.name for s in self.inputs)
        )

    def save(self, path: str | Path) -> Path:
        """Write the model atomically (external data for models over 2 GiB)."""
        import onnx

        p = Path(path)
        if self.large:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f".{p.name}.tmp")
            # saving with external data moves the tensors out of the proto it is given (in
            # place): save a copy, so this model keeps its weights
            proto = onnx.ModelProto()
            proto.CopyFrom(self._proto)
            onnx.save_model(
                proto,
                str(tmp),
                save_as_external_data=True,
                location=p.name + ".data",
                all_tensors_to_one_file=True,
            )
            tmp.replace(p)
        else:
            atomic_write_bytes(p, self._proto.SerializeToString())
        return p

    def random_feed(self, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
        """Seeded random inputs matching the specs (see :func:`edgeinfer.tensors.random_feed`)."""
        return random_feed(self.inputs, batch=batch, seed=seed)

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}: {s.describe()}" for s in self.inputs)
        return f"Model({self.name!r}, inputs=[{ins}], opset={self.opset})"



def export_onnx(module: Any, input_shape: tuple[int, ...], out: Path) -> Path:
    """Export ``module`` to ONNX at ``out`` atomically (TorchScript exporter, opset 17,
    input ``input``, dynamic batch; one output is named ``logits``, several ``output_<i>``).

    Raises:
        ModelError: the exporter fails (message names the likely fix).
    """
    import os
    import tempfile

    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(*input_shape)
    try:
        with torch.no_grad():
            first = module(example)
    except Exception as exc:
        raise ModelError(
            f"the PyTorch module fails on an input of shape {'x'.join(map(str, input_shape))}: "
            f"{first_line(exc)}; check --input-shape"
        ) from exc
    n_out = len(first) if isinstance(first, list | tuple) else 1
    outputs = ["logits"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    axes = {name: {0: "batch"} for name in ["input", *outputs]}
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        torch.onnx.export(
            module, (example,), tmp, input_names=["input"], output_names=outputs,
            opset_version=EXPORT_OPSET, dynamic_axes=axes, do_constant_folding=True, dynamo=False,
        )  # fmt: skip
        os.replace(tmp, out)
    except Exception as exc:
        raise ModelError(
            f"exporting the PyTorch module to ONNX failed: {first_line(exc)}; make forward() "
            "traceable (no data-dependent control flow or hard-coded batch sizes)"
        ) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out

__all__ = ["META_PREFIX", "Dim", "Model", "TensorSpec"]
