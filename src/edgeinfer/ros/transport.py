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
