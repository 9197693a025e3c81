"""Which preprocessing a dataset gets for an engine, and parsing ``--preprocess`` values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.engine import Engine
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.preprocess import PreprocessSpec, spec_from_metadata

if TYPE_CHECKING:
    from edgeinfer.data.base import Dataset
    from edgeinfer.model import Model
    from edgeinfer.tensors import TensorSpec

__all__ = ["image_input", "infer_spec", "parse_preprocess", "resolve_preprocess", "stored_spec"]


RANDOM_INPUTS_FIX = "compare with random inputs instead (omit --dataset/--images/--data)"
NO_SPEC_FIX = (
    "pass --preprocess (e.g. imagenet or a JSON file) or add one to the model's metadata"
)


def image_input(
    target: Engine | Model,
    *,
    consumer: str = "datasets feed",
    fix: str = RANDOM_INPUTS_FIX,
) -> TensorSpec:
    """The engine's (or model's) single image/tensor input.

    Args:
        target: the engine or model.
        consumer: who needs the single input, as the start of "... models with one
            image/tensor input" (e.g. "calibration datasets feed").
        fix: what to do instead, for the error message.

    Raises:
        DataError: the target has several inputs.
    """
    if len(target.inputs) != 1:
        names = ", ".join(s.name for s in target.inputs)
        raise DataError(
            f"{_describe(target)} has {len(target.inputs)} inputs ({names}); {consumer} "
            f"models with one image/tensor input; {fix}"
        )
    return target.inputs[0]


def _describe(target: Engine | Model) -> str:
    return f"engine '{target.path}'" if isinstance(target, Engine) else f"model '{target.name}'"


def resolve_preprocess(
    dataset: Dataset | None,
    target: Engine | Model | None = None,
    *,
    override: PreprocessSpec | None = None,
    allow_guess: bool = True,
    fix: str = NO_SPEC_FIX,
) -> tuple[PreprocessSpec | None, str]:
    """The one preprocessing resolver: pick the spec that turns images into the target's
    input, and say where it came from.

    Order: ``override`` > the engine's (or model's) stored spec > the dataset's default > a
    spec inferred from the input shape (direct resize, scale 1/255, no mean/std; only with
    ``allow_guess``). Tensor datasets need none.

    Args:
        dataset: the images' dataset, or None for images from elsewhere (camera frames).
        target: the engine or model the input tensors are for.
        override: an explicit spec (``--preprocess``).
        allow_guess: infer a spec from the input shape as the last resort (the ROS node and
            the pipeline benchmark refuse to guess).
        fix: what to do when there is no spec, for the error message.

    Returns:
        (spec, source): source is "explicit", "engine", "model", "dataset", "inferred" or
        "none"; the spec is None for tensor datasets, and when ``dataset`` is None and
        nothing was found (the caller refuses in its own words).

    Raises:
        DataError: a dataset of images and no spec.
    """
    if dataset is not None and dataset.is_tensor:
        return None, "none"
    if override is not None:
        return override, "explicit"
    if target is not None:
        stored = stored_spec(target)
        if stored is not None:
            return stored, _kind(target)
    if dataset is not None and dataset.preprocess is not None:
        return dataset.preprocess, "dataset"
    if target is not None and allow_guess:
        inferred = infer_spec(image_input(target))
        if inferred is not None:
            return inferred, "inferred"
    if dataset is None:
        return None, "none"
    raise DataError(
        f"no preprocessing spec for dataset '{dataset.name}': the model stores none and its "
        f"input shape does not tell the image size; {fix}"
    )


def _kind(target: Engine | Model) -> str:
    return "engine" if isinstance(target, Engine) else "model"


def stored_spec(target: Engine | Model) -> PreprocessSpec | None:
    """The preprocessing spec stored in an engine's manifest or a model's metadata."""
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
