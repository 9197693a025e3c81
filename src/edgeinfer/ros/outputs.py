"""Turn engine outputs into ROS result messages, stamped with the input image's header.

Layouts (see docs/ros.md):

* classification -> ``<prefix>/classification``: ``vision_msgs/Classification`` (``results``
  = top-k ``ObjectHypothesis(class_id=<label>, score=<probability>)``, best first), or with
  ``result_format: json`` a ``std_msgs/String`` holding
  ``{"header": {"stamp": {"sec", "nanosec"}, "frame_id"}, "results": [{"class_id", "score"}]}``.
* detection (a DB text-probability map, e.g. PP-OCR's detector) -> ``<prefix>/detections``:
  ``vision_msgs/Detection2DArray`` (one ``Detection2D`` per text box: rotated ``bbox`` in the
  input image's pixels, one hypothesis ``class_id="text"`` with the box score), or with
  ``result_format: json`` a ``std_msgs/String`` holding
  ``{"header": ..., "detections": [{"class_id", "score", "center", "size", "theta", "points"}]}``.
* dense ``[1, C, H, W]`` -> ``<prefix>/map``: ``sensor_msgs/Image``, ``32FC1`` for C == 1
  (the map itself), ``16UC1`` per-pixel argmax class for C > 1.
* generic -> ``<prefix>/output/<name>``: ``std_msgs/Float32MultiArray`` with one layout dim
  per tensor dim (this standard type has no header; see docs/ros.md).

Scores are probabilities: a softmax is applied unless the outputs already are (in [0, 1],
summing to 1).
"""

from __future__ import annotations

import array
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.errors import ConfigError
from edgeinfer.evaluate.metrics import declared_task, output_kind, probabilities
from edgeinfer.evaluate.metrics import top_k as metrics_top_k
from edgeinfer.ros.textboxes import TextBox
from edgeinfer.zoo.ppocr import SHA256 as PPOCR_SHA256

TEXT_CLASS = "text"


@dataclass(frozen=True)
class Hypothesis:
    """One class of a classification result, as ``vision_msgs/ObjectHypothesis`` holds it.

    Attributes:
        class_id: the class's label (its index as text when the engine has no labels).
        score: its probability.
    """
    class_id: str
    score: float


def resolve_task(requested: str, metadata: dict[str, Any], shape: Sequence[int | str]) -> str:
    """The node's result layout: the requested kind, else ``detection`` for a DB text
    detector (:func:`is_db_detector`), else the engine's declared task, else what its output
    holds (:func:`~edgeinfer.evaluate.metrics.output_kind`).
    """
    if requested != "auto":
        return requested
    if is_db_detector(metadata, shape):
        return "detection"
    return declared_task(metadata) or output_kind(shape)


def is_db_detector(metadata: dict[str, Any], shape: Sequence[int | str]) -> bool:
    """Whether the engine is a DB text detector: its metadata says ``postprocess: db``, or it
    is the zoo's PP-OCR detector (its provenance names the original file's SHA-256); its
    output must be one ``[N, 1, H, W]`` map.
    """
    one_map = len(shape) == 4 and shape[1] == 1
    provenance = metadata.get("provenance")
    ppocr = isinstance(provenance, dict) and provenance.get("original_sha256") == PPOCR_SHA256
    return one_map and (metadata.get("postprocess") == "db" or ppocr)


def top_k(
    logits: np.ndarray, labels: Sequence[str] | None, k: int, threshold: float = 0.0
) -> list[Hypothesis]:
    """The ``k`` best classes (best first) scoring at least ``threshold``, with probabilities
    as scores (:func:`~edgeinfer.evaluate.metrics.probabilities` of the flattened output).
    """
    p = probabilities(np.reshape(logits, -1))
    out = []
    for i in metrics_top_k(p, k):
        if p[i] < threshold:
            break
        name = labels[i] if labels is not None and i < len(labels) else str(int(i))
        out.append(Hypothesis(str(name), float(p[i])))
    return out


def classification_message(header: Any, results: Sequence[Hypothesis], fmt: str) -> Any:
    """A ``vision_msgs/Classification`` (fmt ``vision_msgs``) or ``std_msgs/String`` (``json``)."""
    if fmt == "vision_msgs":
        from vision_msgs.msg import Classification, ObjectHypothesis

        msg = Classification()
        msg.header = header
        msg.results = [ObjectHypothesis(class_id=r.class_id, score=r.score) for r in results]
        return msg
    from std_msgs.msg import String

    doc = {
        "header": _header_doc(header),
        "results": [{"class_id": r.class_id, "score": r.score} for r in results],
    }
    return String(data=json.dumps(doc, separators=(",", ":"), allow_nan=False))


def _header_doc(header: Any) -> dict[str, Any]:
    return {
        "stamp": {"sec": int(header.stamp.sec), "nanosec": int(header.stamp.nanosec)},
        "frame_id": header.frame_id,
    }


def detection_message(header: Any, boxes: Sequence[TextBox], fmt: str) -> Any:
    """A ``vision_msgs/Detection2DArray`` (fmt ``vision_msgs``) or ``std_msgs/String`` (``json``)
    of text boxes, stamped with the input image's header.
    """
    if fmt == "vision_msgs":
        from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

        msg = Detection2DArray(header=header)
        for box in boxes:
            det = Detection2D(header=header)
            det.bbox.center.position.x, det.bbox.center.position.y = box.center
            det.bbox.center.theta = box.theta
            det.bbox.size_x, det.bbox.size_y = box.size
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = TEXT_CLASS, box.score
            det.results.append(hyp)
            msg.detections.append(det)
        return msg
    from std_msgs.msg import String

    doc = {
        "header": _header_doc(header),
        "detections": [
            {"class_id": TEXT_CLASS, "score": b.score, "center": list(b.center),
             "size": list(b.size), "theta": b.theta, "points": [list(p) for p in b.points]}
            for b in boxes
        ],
    }  # fmt: skip
    return String(data=json.dumps(doc, separators=(",", ":"), allow_nan=False))


def parse_detections(msg: Any) -> tuple[tuple[int, int, str], list[dict[str, Any]]]:
    """((sec, nanosec, frame_id), detections) of either detection layout (for subscribers):
    each detection as ``{"class_id", "score", "center", "size", "theta"}``.
    """
    if hasattr(msg, "detections") and not isinstance(msg.detections, str):
        h = msg.header
        out = []
        for d in msg.detections:
            hyp = d.results[0].hypothesis if d.results else None
            out.append({
                "class_id": hyp.class_id if hyp else "", "score": hyp.score if hyp else 0.0,
                "center": [d.bbox.center.position.x, d.bbox.center.position.y],
                "size": [d.bbox.size_x, d.bbox.size_y], "theta": d.bbox.center.theta,
            })  # fmt: skip
        return (int(h.stamp.sec), int(h.stamp.nanosec), str(h.frame_id)), out
    doc = json.loads(msg.data)
    st = doc["header"]["stamp"]
    key = (int(st["sec"]), int(st["nanosec"]), str(doc["header"]["frame_id"]))
    return key, list(doc["detections"])


def result_key(msg: Any) -> tuple[int, int, str]:
    """(sec, nanosec, frame_id) of the image a result belongs to, for every result type that
    carries the header (messages with a ``header``; the JSON layouts).
    """
    if hasattr(msg, "header"):
        h = msg.header
        return int(h.stamp.sec), int(h.stamp.nanosec), str(h.frame_id)
    head = json.loads(msg.data)["header"]
    return int(head["stamp"]["sec"]), int(head["stamp"]["nanosec"]), str(head["frame_id"])


def parse_classification(msg: Any) -> tuple[tuple[int, int, str], list[Hypothesis]]:
    """((sec, nanosec, frame_id), results) of either classification layout (for subscribers)."""
    if hasattr(msg, "results"):
        h = msg.header
        key = (int(h.stamp.sec), int(h.stamp.nanosec), str(h.frame_id))
        return key, [Hypothesis(r.class_id, float(r.score)) for r in msg.results]
    doc = json.loads(msg.data)
    st = doc["header"]["stamp"]
    key = (int(st["sec"]), int(st["nanosec"]), str(doc["header"]["frame_id"]))
    return key, [Hypothesis(r["class_id"], float(r["score"])) for r in doc["results"]]


def dense_message(header: Any, output: np.ndarray) -> Any:
    """A ``sensor_msgs/Image``: ``32FC1`` map for one channel, ``16UC1`` argmax otherwise."""
    from sensor_msgs.msg import Image

    arr = np.asarray(output)
    if arr.ndim == 4:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ConfigError(
            f"dense output must be [1, C, H, W], [C, H, W] or [H, W], got {list(output.shape)}; "
            "set parameter task to 'generic'"
        )
    if arr.shape[0] == 1:
        plane, encoding = np.ascontiguousarray(arr[0], dtype="<f4"), "32FC1"
    else:
        plane, encoding = np.argmax(arr, axis=0).astype("<u2"), "16UC1"
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(plane.shape[0]), int(plane.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(plane.shape[1] * plane.itemsize)
    msg.data = plane.tobytes()
    return msg


def tensor_message(output: np.ndarray) -> Any:
    """A ``std_msgs/Float32MultiArray`` with one labelled layout dim per tensor dim."""
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension

    arr = np.ascontiguousarray(output, dtype=np.float32)
    msg = Float32MultiArray()
    strides = [int(np.prod(arr.shape[i:])) for i in range(arr.ndim)]  # ROS convention
    msg.layout.dim = [
        MultiArrayDimension(label=f"dim{i}", size=int(n), stride=int(s))
        for i, (n, s) in enumerate(zip(arr.shape, strides, strict=True))
    ]
    data = array.array("f")
    data.frombytes(arr.tobytes())
    msg.data = data
    return msg


def topic_name(name: str) -> str:
    """A ROS-legal topic token for an output tensor name."""
    token = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "output"
    return token if not token[0].isdigit() else f"t_{token}"
