"""The node's counters and latency windows, and their ``diagnostic_msgs`` form.

What is measured, honestly:

* ``received``: messages the subscription callback got; ``processed``: results published.
* ``sequence_gaps``: frames the publisher sent that never reached the callback, from gaps in
  the DDS publication sequence numbers (``MessageInfo.publication_sequence_number``, per
  publisher): frames lost in transport *and* frames the node dropped.
* ``lost``: frames lost in transport: samples the middleware reported lost (the QoS
  *message lost* event: best-effort fragments that never all arrived).
* ``dropped``: frames dropped by the node: ``sequence_gaps - lost`` (with keep-last-1, the
  frames replaced in the queue while the node was busy). Without sequence numbers (a
  middleware that gives none) it stays 0: not measurable.
* ``cpu_percent``, ``cpu_ms_per_frame``: the node process's CPU time (every thread: executor,
  DDS, inference) over the period, as a share of one core and per processed frame.
* ``latency``: middleware receive time -> result published; ``inference``: ``Runner.infer``;
  ``wait``: middleware receive time -> callback start (executor wake-up, deserialization).
* ``deadline_misses``: latencies over ``deadline_ms``; ``malformed.<kind>``: rejected messages.

:class:`NodeStats` is plain Python (tested without ROS); :func:`diagnostic_array` turns a
snapshot into a ``diagnostic_msgs/DiagnosticArray``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeinfer.ros.codecs import MALFORMED_KINDS

WINDOW = 1000  # latency samples kept for the percentiles
RELOG_S = 30.0  # a malformed kind is logged at most once per this many seconds


@dataclass
class NodeStats:
    """Counters and rolling latency windows of one node. Not thread-safe (one executor)."""

    deadline_ms: float = 0.0
    received: int = 0
    processed: int = 0
    gaps: int = 0
    lost: int = 0
    deadline_misses: int = 0
    frame_bytes: int = 0
    malformed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MALFORMED_KINDS, 0))
    latency_ns: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))
    inference_ns: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))
    wait_ns: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _last_seq: dict[bytes, int] = field(default_factory=dict)
    _logged: dict[str, float] = field(default_factory=dict)
    _period: dict[str, float] = field(default_factory=dict)

    def on_receive(self, publisher: bytes | None = None, sequence: int | None = None) -> None:
        """Count a message; a jump in the publisher's sequence number counts dropped frames."""
        self.received += 1
        if sequence is None or sequence <= 0:
            return
        key = publisher or b""
        last = self._last_seq.get(key)
        if last is not None and sequence > last + 1:
            self.gaps += sequence - last - 1
        if last is None or sequence > last:
            self._last_seq[key] = sequence

    def on_result(self, latency_ns: int, inference_ns: int, wait_ns: int = 0) -> None:
        """Count a processed frame: its end-to-end, inference and queue-wait times (ns)."""
        self.processed += 1
        self.latency_ns.append(latency_ns)
        self.inference_ns.append(inference_ns)
        self.wait_ns.append(wait_ns)
        if self.deadline_ms and latency_ns > self.deadline_ms * 1e6:
            self.deadline_misses += 1

    def on_malformed(self, kind: str, now_s: float) -> bool:
        """Count a rejected message; True when it should be logged (first, then throttled)."""
        self.malformed[kind] = self.malformed.get(kind, 0) + 1
        last = self._logged.get(kind)
        if last is None or now_s - last >= RELOG_S:
            self._logged[kind] = now_s
            return True
        return False

    @property
    def dropped(self) -> int:
        """Frames dropped by the node: sequence gaps not explained by transport losses."""
        return max(0, self.gaps - self.lost)

    def rates(self, now_s: float, cpu_s: float | None = None) -> dict[str, float]:
        """Input and processed rates (Hz), CPU share (% of one core) and CPU ms per
        processed frame since the previous call (``cpu_s``: the process's CPU seconds now).
        """
        cpu = time.process_time() if cpu_s is None else cpu_s
        last = dict(self._period)
        self._period.update(t=now_s, rx=float(self.received), px=float(self.processed), cpu=cpu)
        dt = now_s - last.get("t", now_s)
        if dt <= 0:
            return dict.fromkeys(("in", "out", "cpu", "cpu_frame"), 0.0)
        frames = self.processed - last.get("px", 0.0)
        used = cpu - last.get("cpu", cpu)
        return {
            "in": (self.received - last.get("rx", 0.0)) / dt,
            "out": frames / dt,
            "cpu": 100.0 * used / dt,
            "cpu_frame": 1000.0 * used / frames if frames else 0.0,
        }

    def snapshot(self, now_s: float, cpu_s: float | None = None) -> dict[str, Any]:
        """Everything the diagnostics report, as numbers (ms for latencies)."""
        r = self.rates(now_s, cpu_s)
        snap: dict[str, Any] = {
            "input_rate_hz": r["in"],
            "processed_rate_hz": r["out"],
            "received": self.received,
            "processed": self.processed,
            "dropped": self.dropped,
            "lost": self.lost,
            "sequence_gaps": self.gaps,
            "deadline_misses": self.deadline_misses,
            "cpu_percent": r["cpu"],
            "cpu_ms_per_frame": r["cpu_frame"],
            "frame_bytes": self.frame_bytes,
        }
        windows = (("latency", self.latency_ns), ("inference", self.inference_ns))
        for name, window in (*windows, ("wait", self.wait_ns)):
            arr = np.fromiter(window, dtype=np.float64) / 1e6
            for q in (50, 99):
                snap[f"{name}_p{q}_ms"] = float(np.percentile(arr, q)) if arr.size else 0.0
        snap["malformed"] = dict(self.malformed)
        return snap


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def status_level(
    snap: dict[str, Any], previous: dict[str, Any] | None, transport: str = ""
) -> tuple[int, str]:
    """(level, message): WARN when new losses, drops, deadline misses or malformed messages
    appeared, or when ``transport`` (a transport warning with its fix) is set.
    """
    prev = previous or {}
    bad = sum(snap["malformed"].values()) - sum(prev.get("malformed", {}).values())
    parts = []
    pairs = (("lost", "frames lost in transport"), ("dropped", "frames dropped by the node"),
             ("deadline_misses", "deadline misses"))  # fmt: skip
    for key, label in pairs:
        new = snap[key] - prev.get(key, 0)
        if new:
            parts.append(f"{new} {label}")
    if bad:
        parts.append(f"{bad} malformed messages")
    if transport:
        parts.append(transport)
    if parts:
        return 1, "; ".join(parts)
    if snap["processed_rate_hz"] == 0 and snap["input_rate_hz"] == 0:
        return 0, "waiting for images"
    return 0, f"{snap['processed_rate_hz']:.1f} Hz, p99 {snap['latency_p99_ms']:.2f} ms"


def diagnostic_array(
    stamp: Any,
    name: str,
    hardware_id: str,
    snap: dict[str, Any],
    info: dict[str, str],
    level_message: tuple[int, str],
) -> Any:
    """A ``diagnostic_msgs/DiagnosticArray`` with one status for the node."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    values = [KeyValue(key=k, value=_fmt(v)) for k, v in snap.items() if k != "malformed"]
    values += [KeyValue(key=f"malformed.{k}", value=str(v)) for k, v in snap["malformed"].items()]
    values += [KeyValue(key=k, value=v) for k, v in info.items()]
    status = DiagnosticStatus(
        level=bytes([level_message[0]]),
        name=name,
        message=level_message[1],
        hardware_id=hardware_id,
        values=values,
    )
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg
