"""Resource limits: the memory budget and thread bound, checked before allocating."""

from __future__ import annotations

import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.tensors import (
    TensorSpec,
    check_nbytes,
    check_threads,
    max_threads,
    memory_budget,
    parse_bytes,
    random_feed,
)


def test_budget_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEINFER_MEMORY_BUDGET", raising=False)
    assert 0 < memory_budget() <= 2 << 30
    monkeypatch.setenv("EDGEINFER_MEMORY_BUDGET", "512M")
    assert memory_budget() == 512 << 20
    assert parse_bytes("8GiB") == 8 << 30 and parse_bytes("1048576") == 1 << 20
    for bad in ("nan", "-1G", "lots", "0"):
        with pytest.raises(ConfigError, match="must be a positive size such as 512M"):
            parse_bytes(bad)


def test_declared_sizes_are_checked_before_allocation() -> None:
    # the 97-byte model of the review: one input declaring [1,3,20000,20000] (4.5 GiB)
    spec = TensorSpec("x", "float32", (1, 3, 20000, 20000))
    with pytest.raises(
        ConfigError,
        match=r"random inputs \(x\[1, 3, 20000, 20000\]\) needs 4.47 GiB, over the memory "
        r"budget of .*; use smaller sizes, or raise the budget with EDGEINFER_MEMORY_BUDGET=8G",
    ):
        random_feed([spec])
    with pytest.raises(ConfigError, match=r"needs .* GiB"):
        random_feed([TensorSpec("x", "float32", ("batch", 3, 224, 224))], batch=2_000_000)
    with pytest.raises(ConfigError, match="an unbounded amount"):
        check_nbytes(float("inf"), "a schedule")
    assert random_feed([TensorSpec("x", "float32", (2, 3))])["x"].shape == (2, 3)


def test_thread_counts_are_bounded_by_the_machine() -> None:
    check_threads(None)
    check_threads(1)
    check_threads(max_threads())
    for bad in (0, -1, max_threads() + 1, 100_000, 2.5, True, "4"):
        with pytest.raises(ConfigError, match=r"threads must be an integer from 1 to \d+"):
            check_threads(bad)
