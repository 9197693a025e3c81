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

__all__ = [
    "format_preprocess",
    "image_input",
    "infer_spec",
    "no_spec_fix",
    "parse_preprocess",
    "resolve_preprocess",
    "spec_problems",
    "stored_spec",
]


RANDOM_INPUTS_FIX = "compare with random inputs instead (omit --dataset/--images/--data)"
NO_SPEC_FIX = (
    "pass --preprocess (e.g. imagenet or a JSON file) or store one in the model with "
    "edgeinfer meta MODEL --preprocess SPEC -o MODEL2"
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
    allow_guess: bool = False,
    fix: str | None = None,
) -> tuple[PreprocessSpec | None, str]:
    """The one preprocessing resolver: pick the spec that turns images into the target's
    input, and say where it came from.

    Order: ``override`` > the engine's (or model's) stored spec > the dataset's own default
    (Fashion-MNIST's) > nothing. A spec is never guessed for images: resize and
    normalization decide what a model sees (a guessed spec halved INT8 calibration's top-1
    agreement on a model with its own normalization), so images without a spec are refused
    with a message that shows how to give one. Tensor datasets need none.

    Args:
        dataset: the images' dataset, or None for images from elsewhere (camera frames).
        target: the engine or model the input tensors are for.
        override: an explicit spec (``--preprocess``).
        allow_guess: infer a spec from the input shape as the last resort (direct resize,
            scale 1/255, no mean/std). Only for callers that say so to the user; nothing in
            edgeinfer's own workflows does.
        fix: what to do when there is no spec, for the error message (None: an example
            ``--preprocess`` for the target's input and the ``meta`` verb).

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
    what = f" and model '{target.name}' stores none" if target is not None else ""
    raise DataError(
        f"dataset '{dataset.name}' holds images but there is no preprocessing spec{what}; "
        "edgeinfer does not guess one (resize and normalization change every result); "
        + (fix or no_spec_fix(target))
    )


def no_spec_fix(target: Engine | Model | None) -> str:
    """How to give a preprocessing spec, with an example fitted to ``target``'s input."""
    example = "size=HxW,resize=direct,mean=M1/M2/M3,std=S1/S2/S3"
    name = "MODEL.onnx"
    if target is not None and len(target.inputs) == 1:
        guess = infer_spec(target.inputs[0])
        if guess is not None:
            example = format_preprocess(guess) + ",mean=M1/M2/M3,std=S1/S2/S3"
            if guess.color == "gray":
                example = format_preprocess(guess) + ",mean=M,std=S"
    if isinstance(target, Engine):
        name = str(target.manifest.source_model.get("path") or name)
    elif target is not None and target.path is not None:
        name = str(target.path)
    return (
        f"pass --preprocess {example} (the resize, mean and std the model was trained "
        f"with; or imagenet) or store it once: edgeinfer meta {name} --preprocess SPEC "
        "-o MODEL-WITH-SPEC.onnx"
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


_DEFAULTS = PreprocessSpec(size=(1, 1))


def format_preprocess(spec: PreprocessSpec) -> str:
    """``spec`` as the ``KEY=VALUE,...`` text :func:`parse_preprocess` reads back (fields at
    their default are left out), e.g. ``size=224x224,resize=shorter,resize_shorter=256``.
    """
    parts = [] if spec.size is None else [f"size={spec.size[0]}x{spec.size[1]}"]
    for key in ("resize", "resize_shorter", "interpolation", "color", "layout", "dtype"):
        value = getattr(spec, key)
        if value is not None and value != getattr(_DEFAULTS, key):
            parts.append(f"{key}={value}")
    if spec.scale != _DEFAULTS.scale:
        parts.append(f"scale={spec.scale!r}")
    for key in ("mean", "std"):
        values = getattr(spec, key)
        if values != getattr(_DEFAULTS, key):
            parts.append(f"{key}=" + "/".join(repr(v) for v in values))
    return ",".join(parts) or "resize=none"


def spec_problems(spec: PreprocessSpec, target: Engine | Model) -> list[str]:
    """Why ``spec`` cannot feed ``target``'s single image input (empty: it fits)."""
    inp = image_input(target, consumer="preprocessing specs fit", fix="export a single-input model")
    body = inp.shape[1:]
    nchw = spec.layout == "NCHW"
    if len(body) == 2 and spec.channels == 1:  # [N, H, W]: gray images, channel squeezed
        c_axis, hw_axes = None, (0, 1)
    elif len(body) == 3:
        c_axis, hw_axes = (0, (1, 2)) if nchw else (2, (0, 1))
    else:
        return [f"input '{inp.name}' is {inp.describe()}, not an image tensor"]
    problems: list[str] = []
    if c_axis is not None and isinstance(body[c_axis], int) and body[c_axis] != spec.channels:
        problems.append(
            f"gives {spec.channels} channel(s) in {spec.layout} but input '{inp.name}' is "
            f"{inp.describe()}"
        )
    if spec.size is not None:
        got = tuple(body[a] for a in hw_axes)
        if any(isinstance(d, int) and d != v for d, v in zip(got, spec.size, strict=True)):
            problems.append(
                f"gives {spec.size[0]}x{spec.size[1]} (HxW) but input '{inp.name}' is "
                f"{inp.describe()}"
            )
    if inp.dtype == "uint8" and spec.dtype != "uint8":
        problems.append(f"gives {spec.dtype} but input '{inp.name}' is uint8")
    return problems
