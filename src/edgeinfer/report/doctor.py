"""The ``edgeinfer doctor`` report for a terminal (rich renderables from its JSON data)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

__all__ = ["doctor_text"]


def _kv(title: str, rows: list[tuple[str, str]]) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value", overflow="fold")
    for k, v in rows:
        t.add_row(escape(k), v)
    return t


def _yes(value: bool) -> str:
    return "[green]yes[/]" if value else "[yellow]no[/]"


def _machine(d: dict[str, Any]) -> Table:
    cpu, mem = d["cpu"], d["memory"]
    cores = cpu["cores"]
    rows = [
        ("edgeinfer", escape(str(d["edgeinfer"]))),
        ("CPU", escape(f"{cpu['model']} ({cpu['machine']})")),
        (
            "cores",
            f"{cores['usable']} usable of {cores['logical']} logical"
            + (f", {cores['physical']} physical" if cores.get("physical") else ""),
        ),
        (
            "memory",
            f"{mem['total_mib']} MiB, {mem['available_mib']} MiB available"
            if mem["total_mib"]
            else "unknown",
        ),
        ("OS / Python", escape(f"{cpu['os']} / {cpu['python']}")),
    ]
    for group, found in cpu["isa"].items():
        rows.append((group, escape(", ".join(found)) if found else "[yellow]none[/]"))
    return _kv("machine", rows)


def _backends(d: dict[str, Any]) -> Table:
    t = Table(title="backends", title_justify="left")
    for col in ("backend", "version", "precisions here", "not here (why)"):
        t.add_column(col, overflow="fold")
    for b in d["backends"]:
        if b.get("version") is None:
            t.add_row(b["name"], "[yellow]missing[/]", "", escape(b.get("missing", "")))
            continue
        why = "; ".join(f"{p}: {r}" for p, r in b.get("refused", {}).items())
        t.add_row(b["name"], escape(b["version"]), ", ".join(b["precisions"]), escape(why))
    return t


def _gpu_rows(g: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("nvidia-smi", escape("; ".join(g["nvidia_smi"])) or "none")]
    rows.append(("NVIDIA driver", escape(g["driver"] or "none")))
    tc = g.get("torch_cuda")
    if tc is None:
        rows.append(("torch CUDA", "torch not installed (extra 'torch')"))
    elif "error" in tc:
        rows.append(("torch CUDA", f"[yellow]{escape(tc['error'])}[/]"))
    else:
        devices = ", ".join(tc["devices"]) or "no CUDA device"
        rows.append(("torch CUDA", escape(f"CUDA {tc['cuda'] or 'none (CPU build)'}: {devices}")))
    return rows


def _environment(d: dict[str, Any]) -> Table:
    ros, cache, energy = d["ros"], d["cache"], d["energy"]
    rows = _gpu_rows(d["gpu"])
    rows.append(
        (
            "ROS 2 (rclpy)",
            _yes(ros["rclpy"])
            + escape(
                f" {ros.get('version', '')} ROS_DISTRO={ros['ros_distro'] or '-'} RMW={ros['rmw'] or 'default'}"
                if ros["rclpy"]
                else " (install the extra: pip install 'edgeinfer[ros]')"
            ),
        )
    )
    rows.append(
        (
            "engine cache",
            escape(
                f"{cache['path']}: {cache['engines']} engines, {cache['size_mib']} MiB "
                "(EDGEINFER_CACHE_DIR moves it)"
            ),
        )
    )
    rows.append(
        (
            "CPU energy (RAPL)",
            escape(", ".join(energy["rapl"]))
            if energy["rapl"]
            else f"[yellow]{escape(energy['rapl_reason'])}[/]",
        )
    )
    return _kv("environment", rows)


def _now(d: dict[str, Any]) -> RenderableType:
    now = d.get("machine_now")
    if now is None:
        return ""
    notes = "; ".join(now["notes"])
    if now["quiet"]:
        return f"[green]machine now:[/] quiet enough for benchmarks ({escape(notes)})"
    return "[bold yellow]machine now: busy — benchmarks here will be noisy:[/] " + escape(
        "; ".join(now["reasons"]) + (f" ({notes})" if notes else "")
    )


def doctor_text(data: dict[str, Any]) -> Group:
    """The doctor report: machine, backends, precisions, environment, how busy it is now."""
    advice = "\n".join(f"  • {escape(line)}" for line in data["precisions"])
    return Group(
        _machine(data),
        _backends(data),
        "[bold]What this CPU means for precisions[/]\n" + advice,
        _environment(data),
        _now(data),
    )
