"""The engine side of a node: load, publish results, process one frame. Both node kinds
(:class:`~edgeinfer.ros.node.EdgeInferNode` and the managed
:class:`~edgeinfer.ros.node.ManagedEdgeInferNode`) own one :class:`Worker` while configured.

Per frame (in the image subscription's callback): decode the message as a view of its buffer
(:mod:`edgeinfer.ros.codecs`), refuse non-finite float images, preprocess into the runner's
persistent input buffer, infer, refuse non-finite outputs (counted, never published), turn
the outputs into the result message and publish it stamped with the image's header.
Malformed messages are counted per kind, logged once per kind (then at most every 30 s),
and never stop the node.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.builder import resolve_engine
from edgeinfer.errors import DataError, MissingExtraError
from edgeinfer.ros import outputs
from edgeinfer.ros.codecs import MalformedImage, RawImage, decode_compressed, decode_image
from edgeinfer.ros.diagnostics import NodeStats
from edgeinfer.ros.msgs import vision_msgs_available
from edgeinfer.ros.params import NodeParams
from edgeinfer.ros.pipeline import Pipeline
from edgeinfer.ros.textboxes import DBConfig, db_boxes, map_to_image

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.preprocess import PreprocessSpec

RESULT_DEPTH = 10
RESULT_TOPICS = {"classification": "classification", "detection": "detections", "dense": "map"}


def result_format(requested: str) -> str:
    """``vision_msgs`` or ``json``; ``auto`` picks vision_msgs when it is installed.

    Raises:
        MissingExtraError: ``vision_msgs`` requested but not installed.
    """
    if requested == "json":
        return "json"
    if vision_msgs_available():
        return "vision_msgs"
    if requested == "vision_msgs":
        raise MissingExtraError(
            "result_format 'vision_msgs' needs the vision_msgs messages; install them "
            "with: edgeinfer ros --install-msgs (or set result_format: json)"
        )
    return "json"


def db_config(params: NodeParams) -> DBConfig:
    """The detection post-processing settings of ``params``."""
    return DBConfig(
        threshold=params.det_threshold,
        box_threshold=params.box_threshold,
        unclip_ratio=params.unclip_ratio,
        min_size=params.min_box_size,
        max_candidates=params.max_detections,
    )


class Worker:
    """An open engine pipeline, the result publishers and the statistics of one node.

    Args:
        node: the ROS node (publishers are created on it).
        params: the node's resolved parameters.
        engine: an already loaded engine (default: load ``params.engine``).
        spec: preprocessing spec (default: the engine's own).
        lifecycle: create lifecycle publishers (they publish only while the node is active).

    Raises:
        EdgeInferError: engine missing/unloadable, no preprocessing spec, vision_msgs missing.
    """

    def __init__(
        self,
        node: Any,
        params: NodeParams,
        *,
        engine: Engine | None = None,
        spec: PreprocessSpec | None = None,
        lifecycle: bool = False,
    ) -> None:
        self.node = node
        self.params = params
        eng = engine if engine is not None else resolve_engine(params.require_engine())
        threads = params.threads or None
        pipe = Pipeline(eng, spec=spec, task=params.output_kind, threads=threads,
                        spinning=params.spinning)  # fmt: skip
        self.pipeline = pipe.__enter__()
        self._publishers: dict[str, Any] = {}
        self._lifecycle = lifecycle
        try:
            self.kind = pipe.task
            self.format = result_format(params.result_format)
            self.stats = NodeStats(deadline_ms=params.deadline_ms)
            self.db = db_config(params)
            self._make_publishers(lifecycle)
        except BaseException:
            self.close()
            raise

    def _make_publishers(self, lifecycle: bool) -> None:
        create = self.node.create_lifecycle_publisher if lifecycle else self.node.create_publisher
        prefix = self.params.output_prefix
        if self.kind in RESULT_TOPICS:
            topic = f"{prefix}/{RESULT_TOPICS[self.kind]}"
            self._publishers[self.kind] = create(self._result_type(), topic, RESULT_DEPTH)
            return
        from std_msgs.msg import Float32MultiArray

        for spec in self.pipeline.engine.outputs:
            topic = f"{prefix}/output/{outputs.topic_name(spec.name)}"
            self._publishers[spec.name] = create(Float32MultiArray, topic, RESULT_DEPTH)

    def _result_type(self) -> Any:
        if self.kind == "dense":
            from sensor_msgs.msg import Image

            return Image
        if self.format == "json":
            from std_msgs.msg import String

            return String
        if self.kind == "detection":
            from vision_msgs.msg import Detection2DArray

            return Detection2DArray
        from vision_msgs.msg import Classification

        return Classification

    @property
    def result_topics(self) -> list[str]:
        """The topics results are published on."""
        return [p.topic_name for p in self._publishers.values()]

    def update(self, params: NodeParams) -> None:
        """Apply run-time parameter changes (top-k, thresholds, deadline, detection)."""
        self.params = params
        self.stats.deadline_ms = params.deadline_ms
        self.db = db_config(params)

    def close(self) -> None:
        """Destroy the result publishers and close the pipeline (safe to call twice)."""
        node = self.node
        destroy = node.destroy_lifecycle_publisher if self._lifecycle else node.destroy_publisher
        for pub in self._publishers.values():
            destroy(pub)
        self._publishers = {}
        self.pipeline.close()

    # -- per frame ---------------------------------------------------------------------------
    def on_image(self, msg: Any, info: Any) -> None:
        """Process one image message (``info``: its MessageInfo dict, may be empty)."""
        t_start = time.time_ns()
        received = int(info.get("received_timestamp") or 0) or t_start
        self.stats.on_receive(_publisher_key(info), info.get("publication_sequence_number"))
        self.stats.frame_bytes = len(msg.data)
        try:
            image = self._decode(msg)
            try:
                self.pipeline.preprocess(image)
            except DataError as exc:
                raise MalformedImage("preprocess", f"preprocessing refused the image: {exc}") from exc
            out, infer_ns = self.pipeline.infer()
            if not all(np.isfinite(v).all() for v in out.values()):
                raise MalformedImage(
                    "nonfinite_output", "the engine produced NaN/Inf outputs; not published"
                )
            self._publish(msg.header, out, image.shape[:2])
        except MalformedImage as exc:
            self.malformed(exc.kind, str(exc))
            return
        except Exception as exc:  # never let one frame take the node down
            self.malformed("error", f"{type(exc).__name__}: {exc}")
            return
        self.stats.on_result(time.time_ns() - received, infer_ns, t_start - received)

    def _decode(self, msg: Any) -> np.ndarray:
        limit = self.params.max_image_bytes
        if self.params.compressed:
            image = decode_compressed(msg.format, msg.data, max_bytes=limit)
        else:
            raw = RawImage(
                msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data
            )
            image = decode_image(raw, max_bytes=limit)
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise MalformedImage(
                "nonfinite", f"{image.dtype} image holds NaN or Inf values; not processed"
            )
        return image

    def _publish(self, header: Any, out: dict[str, np.ndarray], image_hw: tuple[int, ...]) -> None:
        pipe = self.pipeline
        if self.kind == "classification":
            p = self.params
            res = outputs.top_k(out[pipe.output_name], pipe.labels, p.top_k, p.score_threshold)
            msg = outputs.classification_message(header, res, self.format)
        elif self.kind == "detection":
            prob = out[pipe.output_name]
            h, w = (int(d) for d in prob.shape[-2:])
            plane = prob.reshape(h, w)
            map_hw = (h, w)
            to_image = map_to_image(pipe.spec, (image_hw[0], image_hw[1]), map_hw)
            boxes = [b for b in db_boxes(plane, self.db, to_image)
                     if b.score >= self.params.score_threshold]  # fmt: skip
            msg = outputs.detection_message(header, boxes, self.format)
        elif self.kind == "dense":
            msg = outputs.dense_message(header, out[pipe.output_name])
        else:
            for name, pub in self._publishers.items():
                pub.publish(outputs.tensor_message(out[name]))
            return
        self._publishers[self.kind].publish(msg)

    def malformed(self, kind: str, message: str) -> None:
        """Count a rejected message; log it (first of its kind, then every 30 s)."""
        if self.stats.on_malformed(kind, time.monotonic()):
            total = self.stats.malformed[kind]
            self.node.get_logger().warning(
                f"dropped a malformed message ({kind}, {total} so far): {message}"
            )


def _publisher_key(info: Any) -> bytes | None:
    gid = info.get("publisher_gid")
    if isinstance(gid, dict):
        data = gid.get("data")
        return bytes(data) if data is not None else None
    return None
