"""Build and install vision_msgs-compatible message types from the PyPI ROS wheels.

The ``ros-*`` wheels install a complete ROS prefix into the Python environment (headers,
CMake configs, ``lib*.so``, the rosidl generators), so a small interface package can be
generated and compiled there with CMake, exactly as ``colcon build`` would. This module carries
the definitions of ``vision_msgs`` 4.1.1 that the node publishes (``Classification``,
``Detection2DArray`` and the messages they contain; ROS 2 Humble and later: same fields, so the
same type hash and wire format as the real package) and
installs them into ``sys.prefix``, where the ROS wheels' bootstrap already puts ``lib`` on
``LD_LIBRARY_PATH`` and ``site-packages`` is on ``sys.path``: no environment to source.

Run it once after installing the ``ros`` extra::

    python -m edgeinfer.ros.msgs          # or: edgeinfer ros --install-msgs

Needs ``cmake`` and a C/C++ compiler. Skipped when every message is already importable
(for instance from a system ROS installation, or an earlier run: ``make setup`` runs it on
every setup and pays the build, ~1-1.5 minutes on 2 cores, once).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeinfer.errors import EdgeInferError, MissingExtraError

PACKAGE = "vision_msgs"
MESSAGES: dict[str, str] = {
    "ObjectHypothesis.msg": (
        "# A class hypothesis: the class identifier and its score (vision_msgs 4.x layout).\n"
        "string class_id\n"
        "float64 score\n"
    ),
    "Classification.msg": (
        "# Classification result for one image, stamped with the image's header.\n"
        "std_msgs/Header header\n"
        "ObjectHypothesis[] results\n"
    ),
    "Point2D.msg": "# A 2D point (pixels for image detections).\nfloat64 x\nfloat64 y\n",
    "Pose2D.msg": (
        "# A 2D position and an orientation (radians).\n"
        "vision_msgs/Point2D position\n"
        "float64 theta\n"
    ),
    "BoundingBox2D.msg": (
        "# A rotated 2D box: centre pose and size along its own axes.\n"
        "vision_msgs/Pose2D center\n"
        "float64 size_x\n"
        "float64 size_y\n"
    ),
    "ObjectHypothesisWithPose.msg": (
        "# A class hypothesis with a pose (unused for 2D detections).\n"
        "ObjectHypothesis hypothesis\n"
        "geometry_msgs/PoseWithCovariance pose\n"
    ),
    "Detection2D.msg": (
        "# One detection in an image.\n"
        "std_msgs/Header header\n"
        "ObjectHypothesisWithPose[] results\n"
        "BoundingBox2D bbox\n"
        "string id\n"
    ),
    "Detection2DArray.msg": (
        "# The detections of one image, stamped with the image's header.\n"
        "std_msgs/Header header\n"
        "Detection2D[] detections\n"
    ),
}
# what the node imports: all of them must be there, else the package is (re)built
REQUIRED = ("Classification", "ObjectHypothesis", "Detection2DArray", "Detection2D")
_PACKAGE_XML = """<?xml version="1.0"?>
<package format="3">
  <name>vision_msgs</name>
  <version>4.1.1</version>
  <description>Subset of vision_msgs (Classification, Detection2DArray and their parts) built
  by edgeinfer from the PyPI ROS wheels; wire-compatible with the real package.</description>
  <maintainer email="edgeinfer@example.com">edgeinfer</maintainer>
  <license>Apache-2.0</license>
  <buildtool_depend>ament_cmake</buildtool_depend>
  <buildtool_depend>rosidl_default_generators</buildtool_depend>
  <depend>std_msgs</depend>
  <depend>geometry_msgs</depend>
  <exec_depend>rosidl_default_runtime</exec_depend>
  <member_of_group>rosidl_interface_packages</member_of_group>
  <export><build_type>ament_cmake</build_type></export>
</package>
"""
_CMAKE = """cmake_minimum_required(VERSION 3.16)
project(vision_msgs)
find_package(ament_cmake REQUIRED)
find_package(rosidl_default_generators REQUIRED)
find_package(std_msgs REQUIRED)
find_package(geometry_msgs REQUIRED)
rosidl_generate_interfaces(${PROJECT_NAME} %s DEPENDENCIES std_msgs geometry_msgs)
ament_export_dependencies(rosidl_default_runtime)
# The wheels' exported CMake targets carry include paths of the machine that built them
# (/opt/python/...); keep only those that exist here.
get_property(_targets DIRECTORY PROPERTY IMPORTED_TARGETS)
foreach(_t IN LISTS _targets)
  get_target_property(_inc ${_t} INTERFACE_INCLUDE_DIRECTORIES)
  if(_inc)
    set(_keep "")
    foreach(_d IN LISTS _inc)
      if(EXISTS "${_d}" OR _d MATCHES "^\\\\$<")
        list(APPEND _keep "${_d}")
      endif()
    endforeach()
    set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_keep}")
  endif()
endforeach()
ament_package()
"""


def vision_msgs_available() -> bool:
    """Whether every message the node publishes (:data:`REQUIRED`) can be imported."""
    if importlib.util.find_spec(PACKAGE) is None:
        return False
    try:
        module = importlib.import_module(f"{PACKAGE}.msg")
    except ImportError:
        return False
    return all(hasattr(module, name) for name in REQUIRED)


def write_package(directory: Path) -> Path:
    """Write the interface package sources (package.xml, CMakeLists.txt, msg/) into ``directory``."""
    (directory / "msg").mkdir(parents=True, exist_ok=True)
    for name, text in MESSAGES.items():
        (directory / "msg" / name).write_text(text)
    (directory / "package.xml").write_text(_PACKAGE_XML)
    files = " ".join(f'"msg/{n}"' for n in MESSAGES)
    (directory / "CMakeLists.txt").write_text(_CMAKE % files)
    return directory


def _check_tools(prefix: Path) -> None:
    missing = [t for t in ("cmake", "cc", "c++") if shutil.which(t) is None]
    if missing:
        raise MissingExtraError(
            f"building vision_msgs needs {', '.join(missing)}; install them "
            "(Debian/Ubuntu: apt-get install cmake g++)"
        )
    if not (prefix / "share" / "rosidl_default_generators").is_dir():
        raise MissingExtraError(
            f"'{prefix}' has no rosidl_default_generators; install the extra: "
            "pip install 'edgeinfer[ros]'"
        )


def _run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("a") as fh:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise EdgeInferError(
            f"building vision_msgs failed at `{' '.join(cmd[:2])}` (exit {proc.returncode}):\n"
            f"{tail}\nfix the error above, or publish results as JSON "
            "(parameter result_format: json)"
        )


def install_vision_msgs(prefix: str | Path | None = None, *, force: bool = False) -> bool:
    """Generate, compile and install the vision_msgs subset into ``prefix``.

    Args:
        prefix: install prefix (default: ``sys.prefix``, the environment of the ROS wheels).
        force: rebuild even when ``vision_msgs`` is already importable.

    Returns:
        True when it built and installed, False when ``vision_msgs`` was already available.

    Raises:
        MissingExtraError: cmake, a compiler or the ROS generator wheels are missing.
        EdgeInferError: the build failed (the message has the end of the build log).
    """
    if not force and vision_msgs_available():
        return False
    root = Path(prefix or sys.prefix).resolve()
    _check_tools(root)
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = str(root)
    env["CMAKE_PREFIX_PATH"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="edgeinfer-vision-msgs-") as tmp:
        src = write_package(Path(tmp) / "src")
        build = Path(tmp) / "build"
        build.mkdir()
        log = Path(tmp) / "build.log"
        configure = [
            "cmake",
            str(src),
            f"-DCMAKE_INSTALL_PREFIX={root}",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DBUILD_TESTING=OFF",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        _run(configure, build, env, log)
        _run(["cmake", "--build", ".", "-j", str(os.cpu_count() or 1)], build, env, log)
        _run(["cmake", "--install", "."], build, env, log)
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]  # a stale import would miss the new messages
    return True


def main() -> int:
    """``python -m edgeinfer.ros.msgs``: install the message package, print what happened."""
    try:
        built = install_vision_msgs(force="--force" in sys.argv[1:])
    except EdgeInferError as exc:
        print(f"edgeinfer: error: {exc}", file=sys.stderr)
        return exc.exit_code
    where = sys.prefix
    print(f"vision_msgs {'installed into ' + where if built else 'already available'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
