"""Which preprocessing a dataset gets for an engine, and parsing ``--preprocess`` values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.errors import ConfigError, DataError
from edgeinfer.preprocess import PreprocessSpec, spec_from_metadata

if TYPE_CHECKING:
    from edgeinfer.data.base import Dataset
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model
    from edgeinfer.tensors import TensorSpec

__all__ = ["image_input", "infer_spec", "parse_preprocess", "resolve_preprocess", "stored_spec"]


def image_input(engine: Engine | Model) -> TensorSpec:
    """The engine's (or model's) single image/tensor input.

    Raises:
        DataError: the engine has several inputs (datasets feed exactly one).
    """
    if len(engine.inputs) != 1:
        names = ", ".join(s.name for s in engine.inputs)
        raise DataError(
            f"engine has {len(engine.inputs)} inputs ({names}); datasets feed models with one "
            "image input; compare with random inputs instead (omit --dataset/--images/--data)"
        )
    return engine.inputs[0]


def resolve_preprocess(
    dataset: Dataset,
    engine: Engine | Model | None = None,
    *,
    override: PreprocessSpec | None = None,
) -> tuple[PreprocessSpec | None, str]:
    """Pick the preprocessing spec and say where it came from.

    Order: ``override`` > the engine's (or model's) stored spec > the dataset's default > a
    spec inferred from the input shape (direct resize, scale 1/255, no mean/std). Tensor
    datasets need none.

    Returns:
        (spec or None for tensor datasets, source: "explicit" | "engine" | "dataset" |
        "inferred" | "none").
    """
    if dataset.is_tensor:
        return None, "none"
    if override is not None:
        return override, "explicit"
    if engine is not None:
        stored = stored_spec(engine)
        if stored is not None:
            return stored, "engine"
    if dataset.preprocess is not None:
        return dataset.preprocess, "dataset"
    if engine is not None:
        inferred = infer_spec(image_input(engine))
        if inferred is not None:
            return inferred, "inferred"
    raise DataError(
        f"no preprocessing spec for dataset '{dataset.name}': the model stores none and its "
        "input shape does not tell the image size; pass --preprocess (e.g. imagenet or a JSON "
        "file) or add one to the model's metadata"
    )


def stored_spec(target: Engine | Model) -> PreprocessSpec | None:
    """The preprocessing spec stored in an engine's manifest or a model's metadata."""
    from edgeinfer.engine import Engine

    if isinstance(target, Engine):
        return spec_from_metadata(target.metadata)
    return spec_from_metadata({"preprocess": target.meta("preprocess")})


def infer_spec(spec: TensorSpec) -> PreprocessSpec | None:
    """Guess a spec from a 4-D image input shape (NCHW or NHWC with 1 or 3 channels)."""
    shape = spec.shape
    if len(shape) != 4:
        return None
    fixed = [d if isinstance(d, int) else None for d in shape]
    dtype = spec.dtype if spec.dtype in ("float32", "float16", "uint8") else "float32"
    if fixed[1] in (1, 3) and fixed[2] and fixed[3]:
        color, layout, size = ("gray" if fixed[1] == 1 else "rgb"), "NCHW", (fixed[2], fixed[3])
    elif fixed[3] in (1, 3) and fixed[1] and fixed[2]:
        color, layout, size = ("gray" if fixed[3] == 1 else "rgb"), "NHWC", (fixed[1], fixed[2])
    else:
        return None
    return PreprocessSpec(size=size, resize="direct", color=color, layout=layout, dtype=dtype)


def parse_preprocess(text: str) -> PreprocessSpec:
    """A spec from ``imagenet`` / ``imagenet:SIZE``, a JSON file, inline JSON, or
    ``KEY=VALUE,...`` (e.g. ``size=28x28,resize=none,color=gray``).

    Raises:
        ConfigError: unparseable text or invalid values.
    """
    text = text.strip()
    if text.startswith("imagenet"):
        _, _, size = text.partition(":")
        try:
            return PreprocessSpec.imagenet(int(size)) if size else PreprocessSpec.imagenet()
        except ValueError:
            raise ConfigError(
                f"--preprocess '{text}': expected imagenet or imagenet:SIZE"
            ) from None
    if text.startswith("{") or text.endswith(".json"):
        try:
            raw = Path(text).read_text() if text.endswith(".json") else text
            return PreprocessSpec.from_dict(json.loads(raw))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--preprocess '{text}': cannot read JSON ({exc})") from exc
    return PreprocessSpec.from_dict(_key_values(text))


def _key_values(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(
                f"--preprocess item '{item}' must be KEY=VALUE (e.g. size=224x224,resize=shorter); "
                "or use imagenet, a JSON file or inline JSON"
            )
        out[key.strip()] = _value(key.strip(), value.strip())
    return out


def _value(key: str, value: str) -> object:
    try:
        if key == "size":
            h, _, w = value.lower().partition("x")
            return (int(h), int(w or h))
        if key in ("mean", "std"):
            return tuple(float(v) for v in value.split("/"))
        if key == "scale":
            num, _, den = value.partition("/")
            return float(num) / float(den) if den else float(num)
        if key in ("resize_shorter", "version"):
            return int(value)
    except ValueError:
        raise ConfigError(f"--preprocess {key}={value}: not a valid value") from None
    return value
