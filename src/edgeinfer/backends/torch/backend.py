"""The PyTorch backend: build = the module's state dict and its source, checked to run.

The payload is ``weights.pt`` (the state dict, loaded back with ``weights_only=True``) and
``source.json`` (the :class:`~edgeinfer.source.TorchSource` that rebuilds the architecture),
so an engine holds its weights under the manifest's hashes even when the factory's own
weights change later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.backends import register_backend
from edgeinfer.backends.base import Backend, BuildResult, Capabilities
from edgeinfer.backends.torch.runner import SOURCE, WEIGHTS, TorchRunner, forward
from edgeinfer.errors import BackendError, ConfigError, first_line, require

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model


@register_backend
class TorchBackend(Backend):
    """PyTorch eager FP32 on the CPU: the starting point users compare against."""

    name = "torch"
    extra = "torch"
    distribution = "torch"
    module = "torch"
    capabilities = Capabilities(
        precisions=("fp32",),
        searched_by_default=False,
        needs_torch_source=True,
        baseline=True,
    )

    def check_config(self, config: BuildConfig) -> None:
        """The common checks; ``--exclude`` is refused (this backend only runs fp32).

        Raises:
            ConfigError: ``exclude`` is set.
        """
        super().check_config(config)
        if config.exclude:
            raise ConfigError("--exclude applies to lower precisions; the torch backend runs fp32")

    def build(
        self, model: Model, config: BuildConfig, directory: Path, *, quiet: bool | None = None
    ) -> BuildResult:
        """Save the module's state dict and source, once it runs on the model's inputs.

        Raises:
            BackendError: the model has no PyTorch source, or the module fails on its inputs.
            MissingExtraError: torch is not installed.
        """
        torch = require("torch", "torch", purpose="the torch backend")
        self.check_source(model)
        source = model.torch_source
        assert source is not None
        module = source.load()
        _check_runs(module, model)
        torch.save(module.state_dict(), directory / WEIGHTS)
        (directory / SOURCE).write_text(json.dumps(source.to_dict(), indent=2) + "\n")
        version = str(torch.__version__)
        notes = (f"PyTorch {version} eager FP32 from {source.describe()}",)
        meta = {"torch": {"version": version, "source": source.to_dict()}}
        return BuildResult(
            payload=(WEIGHTS, SOURCE), executed_precision="fp32", notes=notes, metadata=meta
        )

    def runner(self, engine: Engine, **options: Any) -> TorchRunner:
        """A new, inactive :class:`TorchRunner` for ``engine``."""
        return TorchRunner(engine, **options)


def _check_runs(module: Any, model: Model) -> None:
    """Run the module once on the model's inputs (batch 1): it must give its outputs.

    Raises:
        BackendError: the module fails on the ONNX graph's input shapes, or returns a
            different number of outputs.
    """
    feed = model.random_feed(batch=1)
    try:
        outs = forward(module, [feed[s.name] for s in model.inputs])
    except Exception as exc:
        raise BackendError(
            f"the PyTorch module of '{model.name}' fails on the model's inputs "
            f"({', '.join(s.describe() for s in model.inputs)}): {first_line(exc)}; check the "
            "source's input shape"
        ) from exc
    if len(outs) != len(model.outputs):
        raise BackendError(
            f"the PyTorch module of '{model.name}' returns {len(outs)} output(s) but the ONNX "
            f"graph has {len(model.outputs)}; export the graph from the same module"
        )
