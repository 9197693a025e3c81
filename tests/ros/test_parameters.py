"""Parameters the ROS way: rcl applies -p / --params-file / namespaced and wildcard sections;
typed declarations refuse ill-typed, out-of-range and unknown values; dynamic ones change
over DDS (AsyncParameterClient, what `ros2 param set` uses)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy")

from edgeinfer.errors import ConfigError
from edgeinfer.ros.outputs import parse_classification
from edgeinfer.ros.params import NodeParams
from edgeinfer.ros.run import init_context, ros_arguments

from .conftest import Harness, image_msg


def _node(engine: Any, args: list[str], params_file: Path | None = None) -> tuple[Any, Any]:
    import rclpy

    from edgeinfer.ros.node import EdgeInferNode

    context = init_context(ros_arguments(params_file, args))
    try:
        node = EdgeInferNode(NodeParams(result_format="json"), context=context, engine=engine)
    except BaseException:
        rclpy.try_shutdown(context=context)
        raise
    return node, context


@pytest.fixture
def ros_node_factory() -> Iterator[Any]:
    import rclpy

    made: list[tuple[Any, Any]] = []

    def make(engine: Any, args: list[str], params_file: Path | None = None) -> Any:
        node, context = _node(engine, args, params_file)
        made.append((node, context))
        return node

    yield make
    for node, context in made:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_namespaced_wildcard_sections_and_precedence(
    ros_node_factory: Any, classifier_engine: Any, tmp_path: Path
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "/**:\n  ros__parameters:\n    deadline_ms: 20.0\n    top_k: 9\n"
        "/robot/edgeinfer:\n  ros__parameters:\n    top_k: 3\n    score_threshold: 1\n"
        "/*/other:\n  ros__parameters:\n    nonsense: 1\n"  # another node's section
        "edgeinfer:\n  ros__parameters:\n    top_k: 7\n"  # /edgeinfer: not this node
    )
    args = ["-r", "__ns:=/robot", "-p", "queue_depth:=2"]
    node = ros_node_factory(classifier_engine, args, f)
    p = node.params
    assert node.get_fully_qualified_name() == "/robot/edgeinfer"
    assert (p.top_k, p.deadline_ms, p.score_threshold, p.queue_depth) == (3, 20.0, 1.0, 2)
    # rcl applies -p as a /** value after the file: it beats the file's /** section, not
    # the node's own section
    node2 = ros_node_factory(classifier_engine, ["-r", "__ns:=/robot", "-p", "top_k:=4",
                                                 "-p", "deadline_ms:=5.0"], f)  # fmt: skip
    assert (node2.params.top_k, node2.params.deadline_ms) == (3, 5.0)


def test_descriptors_are_typed_with_ranges(ros_node_factory: Any, classifier_engine: Any) -> None:
    from rcl_interfaces.msg import ParameterType

    node = ros_node_factory(classifier_engine, [])
    top_k, engine, reliability = node.describe_parameters(["top_k", "engine", "reliability"])
    assert top_k.type == ParameterType.PARAMETER_INTEGER and not top_k.read_only
    assert (top_k.integer_range[0].from_value, top_k.integer_range[0].to_value) == (1, 100000)
    assert engine.type == ParameterType.PARAMETER_STRING and engine.read_only
    assert reliability.additional_constraints == "one of: best_effort, reliable"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "top_k:=3.0"], "parameter top_k must be a integer, got double 3.0; e.g. -p top_k:=3"),
        (["-p", "engine:=123"], "parameter engine must be a string, got integer 123"),
        (["-p", "top_k:=0"], "parameter top_k must be >= 1, got 0"),
        (["-p", "score_threshold:=.nan"], "parameter score_threshold must be a finite number"),
        (["-p", "reliability:=fast"], "parameter reliability 'fast' is not valid; choose one of"),
        (["-p", "topk:=3"], "unknown parameter(s) ['topk'] for node /edgeinfer; valid: engine,"),
        (["-p", "top_k"], "ROS arguments refused: Couldn't parse parameter override rule"),
        (["--bogus"], "ROS arguments refused: ['--bogus']"),
    ],
)
def test_bad_parameters_are_one_line_errors(
    classifier_engine: Any, args: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _node(classifier_engine, args)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_params_files(classifier_engine: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="params file '.*missing.yaml' does not exist"):
        _node(classifier_engine, [], tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("edgeinfer:\n  top_k: 3\n")
    with pytest.raises(ConfigError, match="ROS arguments refused: .*ros__parameters") as err:
        _node(classifier_engine, [], bad)
    assert "/project/src" not in str(err.value)  # no C source locations


def test_dynamic_reconfiguration_over_dds(
    ros_context: Any, classifier_engine: Any, photo: np.ndarray
) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from std_msgs.msg import String

    from edgeinfer.ros.node import EdgeInferNode

    node = EdgeInferNode(NodeParams(result_format="json", top_k=5), context=ros_context,
                         engine=classifier_engine)  # fmt: skip
    h = Harness(ros_context, node, String, node.result_topics[0])
    try:
        client = AsyncParameterClient(h.helper, "/edgeinfer")
        h.spin_until(lambda: client.services_are_ready(), what="parameter services")

        def set_(*params: Parameter) -> list[Any]:
            fut = client.set_parameters(list(params))
            h.spin_until(fut.done, what="set_parameters")
            return list(fut.result().results)

        assert len(parse_classification(h.request(image_msg(photo, stamp=1)))[1]) == 5
        assert set_(Parameter("top_k", value=2))[0].successful
        assert len(parse_classification(h.request(image_msg(photo, stamp=2)))[1]) == 2
        res = set_(Parameter("score_threshold", value=1.0))[0]
        assert res.successful and node.params.score_threshold == 1.0
        assert parse_classification(h.request(image_msg(photo, stamp=3)))[1] == []
        refused = {
            "top_k": set_(Parameter("top_k", value=0))[0].reason,
            "engine": set_(Parameter("engine", value="/x"))[0].reason,
            "type": set_(Parameter("score_threshold", value=1))[0].reason,
        }
        assert "out of range" in refused["top_k"]
        assert "read-only" in refused["engine"]
        assert "Wrong parameter type" in refused["type"]
        assert node.params.top_k == 2 and node.params.score_threshold == 1.0
    finally:
        h.close()


def test_executor_choice(ros_context: Any) -> None:
    from edgeinfer.ros.run import make_executor

    assert type(make_executor("events", ros_context)).__name__ == "EventsExecutor"
    assert type(make_executor("single", ros_context)).__name__ == "SingleThreadedExecutor"
    with pytest.raises(ConfigError, match="executor 'fast' is not valid; choose events or single"):
        make_executor("fast", ros_context)
