"""Run two engines on the same inputs and measure the candidate's fidelity to the reference."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.builder import load_runner, resolve_engine
from edgeinfer.data.datasets import Dataset, image_input, iter_batches, resolve_preprocess
from edgeinfer.errors import DataError
from edgeinfer.evaluate.accuracy import engine_info
from edgeinfer.evaluate.fidelity import FidelityAccumulator, FidelityResult, Tolerances
from edgeinfer.evaluate.metrics import declared_task
from edgeinfer.evaluate.running import batch_size_for, fixed_batch, run_padded
from edgeinfer.progress import Progress
from edgeinfer.tensors import TensorSpec, random_feed

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model
    from edgeinfer.preprocess import PreprocessSpec

__all__ = ["DEFAULT_RANDOM_INPUTS", "compare_engines"]

DEFAULT_RANDOM_INPUTS = 32
Feeds = Iterable[Mapping[str, np.ndarray]]


def compare_engines(
    candidate: Engine | Model | str | Path,
    reference: Engine | Model | str | Path,
    inputs: Dataset | Feeds | None = None,
    *,
    tolerances: Tolerances | None = None,
    batch_size: int = 16,
    limit: int | None = None,
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
    preprocess: PreprocessSpec | None = None,
    quiet: bool | None = None,
    outputs: tuple[str, ...] | None = None,
) -> FidelityResult:
    """Run both engines on the same inputs and compare the candidate to the reference.

    Args:
        candidate: the engine under test: an engine, engine directory, Model or ONNX file.
        reference: what it is compared with, given the same ways.
        inputs: a :class:`Dataset` (preprocessed with the reference's stored spec, or the
            dataset's default), an iterable of feeds (``{input name: [N, ...] array}``), or
            None for seeded random inputs (``limit`` of them, default 32).
        tolerances: pass/fail thresholds (None: ``Tolerances()``).
        batch_size: samples per inference for datasets and random inputs (engines with a
            fixed batch dim use theirs).
        limit: random inputs to draw (datasets are limited by ``open_dataset(limit=)``).
        seed: seed of the random inputs.
        dims: values of symbolic non-batch input dims for random inputs.
        preprocess: override the preprocessing of dataset images.
        quiet: no progress bar.
        outputs: compare only these reference outputs (None: every output; each is judged
            against the tolerances and reported on its own).

    Raises:
        DataError: the engines' inputs or outputs do not match, or the data does not fit.
    """
    cand, ref = resolve_engine(candidate), resolve_engine(reference)
    _check_inputs(cand, ref)
    bs = _common_batch(cand, ref, batch_size)
    acc = FidelityAccumulator(tolerances, task=declared_task(ref.metadata), outputs=outputs)
    batches, described, total = _batches(ref, inputs, bs, limit, seed, dims, preprocess)
    t0 = time.perf_counter()
    with (
        load_runner(cand) as rc,
        load_runner(ref) as rr,
        Progress(quiet) as progress,
        progress.task("compare", total) as task,
    ):
        for feed in batches:
            out_r = _run(rr, ref, feed, bs)
            out_c = _run(rc, cand, _rename(feed, ref, cand), bs)
            acc.update(out_c, out_r)
            task.advance(len(next(iter(feed.values()))))
    return acc.result(
        candidate=engine_info(cand),
        reference=engine_info(ref),
        inputs=described,
        seconds=round(time.perf_counter() - t0, 4),
    )


def _check_inputs(cand: Engine, ref: Engine) -> None:
    if len(cand.inputs) != len(ref.inputs):
        raise DataError(
            f"candidate has {len(cand.inputs)} inputs, reference {len(ref.inputs)}; compare "
            "engines of the same model"
        )
    for c, r in zip(cand.inputs, ref.inputs, strict=True):
        if len(c.shape) != len(r.shape) or any(
            isinstance(a, int) and isinstance(b, int) and a != b
            for a, b in zip(c.shape[1:], r.shape[1:], strict=True)
        ):
            raise DataError(
                f"candidate input {c.name}: {c.describe()} does not match reference input "
                f"{r.name}: {r.describe()}; compare engines of the same model"
            )


def _common_batch(cand: Engine, ref: Engine, requested: int) -> int:
    fc = {b for b in (fixed_batch(s) for s in cand.inputs) if b is not None}
    fr = {b for b in (fixed_batch(s) for s in ref.inputs) if b is not None}
    if fc and fr and fc != fr:
        raise DataError(
            f"candidate has fixed batch {sorted(fc)} but reference {sorted(fr)}; build both "
            "with the same batch (or a dynamic one)"
        )
    return batch_size_for(cand.inputs if fc else ref.inputs, requested)


def _rename(feed: Mapping[str, np.ndarray], ref: Engine, cand: Engine) -> dict[str, np.ndarray]:
    out = {}
    for r, c in zip(ref.inputs, cand.inputs, strict=True):
        arr = feed[r.name]
        if np.dtype(c.dtype) != arr.dtype and arr.dtype.kind == np.dtype(c.dtype).kind:
            arr = arr.astype(c.dtype)
        out[c.name] = arr
    return out


def _run(
    runner: Runner, engine: Engine, feed: Mapping[str, np.ndarray], bs: int
) -> dict[str, np.ndarray]:
    fixed = any(fixed_batch(s) is not None for s in engine.inputs)
    return run_padded(runner, feed, bs, fixed)


def _batches(
    ref: Engine,
    inputs: Dataset | Feeds | None,
    bs: int,
    limit: int | None,
    seed: int,
    dims: Mapping[str, int] | None,
    preprocess: PreprocessSpec | None,
) -> tuple[Iterable[Mapping[str, np.ndarray]], str, int | None]:
    if inputs is None:
        count = limit or DEFAULT_RANDOM_INPUTS
        return _random_batches(ref.inputs, count, bs, seed, dims), f"random (seed {seed})", count
    if isinstance(inputs, Dataset):
        inp = image_input(ref)
        spec, source = resolve_preprocess(inputs, ref, override=preprocess)
        gen = ({inp.name: batch} for batch, _ in iter_batches(inputs, spec, bs, input_shape=inp))
        return gen, f"{inputs.name} ({len(inputs)} samples, preprocessing: {source})", len(inputs)
    return inputs, "feeds", None


def _random_batches(
    specs: tuple[TensorSpec, ...], count: int, bs: int, seed: int, dims: Mapping[str, int] | None
) -> Iterator[dict[str, np.ndarray]]:
    done = 0
    k = 0
    while done < count:
        n = min(bs, count - done)
        yield random_feed(specs, batch=n, seed=seed + k, dims=dims)
        done += n
        k += 1
