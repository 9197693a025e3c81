"""Fast DDS settings for camera-sized messages.

With Fast DDS defaults, a best-effort sample larger than the writer's 512 KB shared-memory
segment (a 640x480 rgb8 image is 900 KB) goes over UDP in 64 KB fragments, and on a busy
host most such samples are lost: the subscriber sees nothing but QoS *message lost* events.
The fix belongs to the **publisher** (the camera driver), since the writer's segment is the
one used: give its participant a larger shared-memory segment with a Fast DDS XML profile,
or use reliable QoS on both sides. :func:`write_fastdds_profile` writes such a profile; point
``FASTDDS_DEFAULT_PROFILES_FILE`` at it before the publishing process starts.
"""

from __future__ import annotations

from pathlib import Path

from edgeinfer.fileio import atomic_write_text

DEFAULT_SEGMENT_BYTES = 32 * 1024 * 1024

_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Fast DDS profile for large images on one host (written by edgeinfer). Use it with:
     export FASTDDS_DEFAULT_PROFILES_FILE={path} -->
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>edgeinfer_shm</transport_id>
        <type>SHM</type>
        <segment_size>{segment}</segment_size>
      </transport_descriptor>
      <transport_descriptor>
        <transport_id>edgeinfer_udp</transport_id>
        <type>UDPv4</type>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="edgeinfer_large_data" is_default_profile="true">
      <rtps>
        <userTransports>
          <transport_id>edgeinfer_shm</transport_id>
          <transport_id>edgeinfer_udp</transport_id>
        </userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
      </rtps>
    </participant>
  </profiles>
</dds>
"""


def write_fastdds_profile(path: str | Path, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> Path:
    """Write a Fast DDS profile whose shared-memory segment holds ``segment_bytes``.

    The segment must hold a few messages (Fast DDS keeps several in flight): 32 MB fits
    1080p rgb8 images with room to spare.
    """
    p = Path(path)
    atomic_write_text(p, _PROFILE.format(path=p.resolve(), segment=int(segment_bytes)))
    return p


# Fast DDS's default shared-memory segment (per participant); bigger best-effort samples go
# over UDP in fragments and are mostly lost (docs/ros.md: 2 of 300 640x480 frames arrived).
DEFAULT_SHM_SEGMENT = 512 * 1024
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
_BYTES_PER_PIXEL = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1,
                    "mono16": 2, "16UC1": 2, "32FC1": 4}  # fmt: skip


def frame_bytes(width: int, height: int, encoding: str = "rgb8") -> int:
    """Payload bytes of one uncompressed ``sensor_msgs/Image`` (unpadded rows)."""
    return width * height * _BYTES_PER_PIXEL.get(encoding, 3)


def export_line(path: str | Path) -> str:
    """The one line that puts a process on the profile: run it in the camera driver's shell
    (the publisher: its segment is the one used) and the node's.
    """
    return f"export {PROFILE_ENV}={Path(path).resolve()}"


def fix_hint() -> str:
    """How to make large frames arrive (publisher side), in one sentence."""
    return (
        "fix: give the camera driver a larger shared-memory segment (run `eval $(edgeinfer "
        "ros --transport-profile fastdds.xml)` in its shell before starting it), or publish "
        "and subscribe reliable (--reliability reliable, ~10 ms more latency), or publish "
        "CompressedImage (--compressed)"
    )


def startup_warning(size: tuple[int, int, str] | None, reliability: str) -> str:
    """A warning when the expected frames do not fit the default transport; "" otherwise."""
    if size is None:
        return ""
    n = frame_bytes(*size)
    if n <= DEFAULT_SHM_SEGMENT:
        return ""
    what = f"expected frames ({size[0]}x{size[1]} {size[2]}, {n} bytes)"
    if reliability == "reliable":
        return (
            f"{what} exceed Fast DDS's default {DEFAULT_SHM_SEGMENT // 1024} KiB shared-memory "
            "segment: reliable QoS delivers them as retransmitted UDP fragments (slower) unless "
            f"the camera driver uses a larger segment; {fix_hint()}"
        )
    return (
        f"{what} exceed Fast DDS's default {DEFAULT_SHM_SEGMENT // 1024} KiB shared-memory "
        "segment: under best_effort QoS they are lost in transport unless the camera driver "
        f"(the publisher) runs with a larger segment; {fix_hint()}"
    )


def lost_warning(lost: int, received: int, size: int) -> str:
    """The diagnostics warning when frames were lost in transport; "" when none were."""
    if lost <= 0:
        return ""
    seen = f"frames of {size} bytes" if size else "no frame arrived yet"
    big = f" (over the default {DEFAULT_SHM_SEGMENT // 1024} KiB segment)" if size > DEFAULT_SHM_SEGMENT else ""
    return f"{lost} frames lost in transport, {received} received, {seen}{big}; {fix_hint()}"
