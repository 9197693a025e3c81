"""Pipeline benchmark: camera frame → preprocess → infer → postprocess, stage by stage.

This is what a robot pays per frame (and the baseline the ROS node's overhead is measured
against). Frames are real photos resized once, up front, to the camera resolution; each
measured frame is preprocessed with the engine's own :class:`PreprocessSpec` straight into
the runner's persistent input buffer, run, and post-processed as the ROS node does (top-k
probabilities for classifiers, a thresholded map for dense outputs).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from edgeinfer import serde
from edgeinfer.backends.base import Runner
from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.data.datasets import open_dataset
from edgeinfer.data.specs import image_input
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.evaluate import metrics
from edgeinfer.preprocess import PreprocessSpec

STAGES = ("preprocess", "infer", "postprocess", "total")
PIPELINE_CONFIG_VERSION = 1


@dataclass(frozen=True)
class PipelineConfig:
    """Frames, warm-up, camera resolution, image source and post-processing of a pipeline run.

    Attributes:
        frames: measured frames.
        warmup: unmeasured frames first.
        image_size: camera resolution (height, width).
        data: dataset spec of the camera frames.
        top_k: classification results per frame.
        threshold: threshold of dense output maps.
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "pipeline config"

    frames: int = 300
    warmup: int = 20
    image_size: tuple[int, int] = (480, 640)
    data: str = "photos:32"
    top_k: int = 5
    threshold: float = 0.3
    version: int = PIPELINE_CONFIG_VERSION

    def __post_init__(self) -> None:
        if self.frames < 1 or self.warmup < 0:
            raise ConfigError("--iterations must be >= 1 and --warmup >= 0")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ConfigError(f"--image-size must be WIDTHxHEIGHT, got {self.image_size}")
        serde.check_version(self.WHAT, self.version, PIPELINE_CONFIG_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)


@dataclass
class PipelineResult:
    """Per-stage latencies of the pipeline benchmark.

    Attributes:
        config: the benchmark's settings.
        stages: latency statistics (ms) for each of :data:`STAGES`.
        samples_ns: per-frame times of each stage (ns).
        preprocess: the preprocessing spec used, as JSON data.
    """
    config: PipelineConfig
    stages: dict[str, LatencyStats]
    samples_ns: dict[str, np.ndarray] = field(repr=False)
    preprocess: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, include_samples: bool = False) -> dict[str, Any]:
        """JSON data: config, per-stage statistics (``stages_ms``) and the preprocessing spec.

        Args:
            include_samples: also write every per-frame time (``samples_ns``).
        """
        data: dict[str, Any] = {
            "config": self.config.to_dict(),
            "stages_ms": {k: v.to_dict() for k, v in self.stages.items()},
            "preprocess": self.preprocess,
        }
        if include_samples:
            data["samples_ns"] = {k: v.tolist() for k, v in self.samples_ns.items()}
        return data


def camera_frames(data: str, size: tuple[int, int], count: int = 16) -> list[np.ndarray]:
    """Real images (from a dataset spec) resized to a camera resolution, RGB uint8."""
    from PIL import Image

    ds = open_dataset(data, limit=count)
    frames = []
    for i in range(min(count, len(ds))):
        img = ds[i].image
        if ds.is_tensor or img.dtype != np.uint8:
            raise DataError(f"--data '{data}' holds tensors; the pipeline needs images")
        pil = Image.fromarray(img).convert("RGB").resize((size[1], size[0]))
        frames.append(np.asarray(pil))
    if not frames:
        raise DataError(f"--data '{data}' has no images")
    return frames


def postprocess(outputs: dict[str, np.ndarray], top_k: int, threshold: float) -> list[Any]:
    """What the ROS node does per frame: the top-k classes with their probabilities for class
    scores, a binary mask of dense maps, a copy otherwise (kinds as
    :func:`~edgeinfer.evaluate.metrics.output_kind` tells them).
    """
    results: list[Any] = []
    for value in outputs.values():
        kind = metrics.output_kind(value.shape)
        if kind == "classification":
            p = metrics.probabilities(value[0].reshape(-1))
            idx = metrics.top_k(p, top_k)
            results.append((idx, p[idx]))
        elif kind == "dense":
            results.append(value[0, 0] > threshold)
        else:
            results.append(value.copy())
    return results


def bench_pipeline(
    runner: Runner,
    spec: PreprocessSpec,
    cfg: PipelineConfig,
    frames: list[np.ndarray] | None = None,
) -> PipelineResult:
    """Time every stage for ``cfg.frames`` frames (after ``cfg.warmup`` unmeasured ones)."""
    name = image_input(
        runner.engine, consumer="the pipeline benchmark feeds", fix="benchmark without --pipeline"
    ).name
    frames = frames or camera_frames(cfg.data, cfg.image_size)
    buf = runner.input_buffer(name, (1, *spec.tensor_shape()))
    feed = {name: buf}
    clock = time.perf_counter_ns
    samples = {s: np.empty(cfg.frames, dtype=np.int64) for s in STAGES}
    for i in range(cfg.warmup + cfg.frames):
        frame = frames[i % len(frames)]
        t0 = clock()
        spec.apply(frame, out=buf[0])
        t1 = clock()
        out = runner.infer(feed)
        t2 = clock()
        postprocess(out, cfg.top_k, cfg.threshold)
        t3 = clock()
        j = i - cfg.warmup
        if j >= 0:
            for s, v in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
                samples[s][j] = v
    return PipelineResult(
        cfg, {s: latency_stats(v) for s, v in samples.items()}, samples, spec.to_dict()
    )
