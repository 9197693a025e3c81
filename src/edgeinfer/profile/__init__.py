"""Per-layer profiles: where the time goes, layer by layer, and in which precision.

:func:`profile_runner` measures an engine's layers with the backend's own profiler
(:meth:`Runner.profile`) against its end-to-end latency; :mod:`~edgeinfer.profile.summary`
makes the tables (top layers, time by operator type and by precision);
:mod:`~edgeinfer.profile.mapping` maps fused kernels back to ONNX node names;
:mod:`~edgeinfer.profile.trace` writes a Chrome trace.
"""

from edgeinfer.profile.mapping import map_to_source
from edgeinfer.profile.run import ProfileConfig, ProfileResult, profile_runner, source_graph
from edgeinfer.profile.summary import by_group, layer_rows, merge_profiles
from edgeinfer.profile.trace import chrome_trace, write_trace

__all__ = [
    "ProfileConfig",
    "ProfileResult",
    "by_group",
    "chrome_trace",
    "layer_rows",
    "map_to_source",
    "merge_profiles",
    "profile_runner",
    "source_graph",
    "write_trace",
]
