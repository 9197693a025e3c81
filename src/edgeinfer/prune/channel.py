"""Structured channel pruning with Torch-Pruning's dependency graph.

The dependency graph groups layers whose channels are coupled (a conv and the BatchNorm,
depthwise conv and next conv that read its output; every block of a residual stage, added
together) so a group is pruned as one. Widths are planned here, before Torch-Pruning runs:
``keep = floor(width * (1 - ratio))`` rounded down to a multiple of ``round_to`` (but not to
zero: a layer that would lose every channel at this ratio is refused, not silently skipped
as Torch-Pruning itself does); the planned widths are then handed to
``tp.pruner.BasePruner`` with ``GroupMagnitudeImportance`` (L2 norm of each channel's weights
across the group), which picks WHICH channels go. The result is checked against the plan.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch_pruning as tp
from torch import nn

from edgeinfer.errors import first_line
from edgeinfer.prune.analysis import PruneError, check_channel_structure, out_width
from edgeinfer.prune.config import PruneConfig

__all__ = ["GroupPlan", "plan", "prune_channels", "step_targets"]


@dataclass(frozen=True)
class GroupPlan:
    """One coupled group of layers and its planned width.

    Attributes:
        root: the layer that names the group (the first conv/linear of it).
        layers: every layer whose output channels are pruned with it.
        width: output channels now.
        keep: output channels after pruning.
        ratio: the ratio asked for this group.
    """

    root: str
    layers: tuple[str, ...]
    width: int
    keep: int
    ratio: float


def _graph(module: nn.Module, example: torch.Tensor) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tp.DependencyGraph().build_dependency(module, example_inputs=example, verbose=False)


def _keep(width: int, ratio: float, round_to: int, layer: str) -> int:
    """Channels kept of ``width`` at ``ratio``, rounded down to ``round_to`` (not below one
    multiple; a layer narrower than ``round_to`` is not rounded).

    Raises:
        PruneError: the ratio keeps no channel of the layer.
    """
    keep = int(width * (1.0 - ratio) + 1e-9)
    if keep < 1:
        most = 1.0 - 1.0 / width
        raise PruneError(
            f"ratio {ratio:g} would remove every one of the {width} channels of layer "
            f"'{layer}' (the whole layer); use a ratio <= {most:.3g} for it (--ratio or "
            f"--layer-ratio {layer}=R), or --ignore {layer}"
        )
    if round_to > 1 and width > round_to:
        keep = max(round_to, keep - keep % round_to)
    return min(keep, width)


def _group_ratio(config: PruneConfig, names: list[str]) -> float:
    given = {config.ratio_of(n) for n in names if n in dict(config.layer_ratios)}
    if len(given) > 1:
        raise PruneError(
            f"layers {', '.join(names)} are coupled (pruned together) but got different "
            f"--layer-ratio values {sorted(given)}; give them one ratio"
        )
    return given.pop() if given else config.ratio


def plan(
    module: nn.Module, example: torch.Tensor, config: PruneConfig, ignored: list[str]
) -> list[GroupPlan]:
    """The planned width of every prunable group (ignored layers' groups left out).

    Raises:
        PruneError: unknown layer names in the config, coupled layers with different ratios,
            a ratio that removes a whole layer, or a structure pruning cannot handle.
    """
    graph = _graph(module, example)
    unwrapped = {
        graph._param_to_name.get(p, "?"): tuple(p.shape) for p, _ in graph.unwrapped_parameters
    }
    check_channel_structure(module, unwrapped)
    mods = dict(module.named_modules())
    _check_names(config, ignored, mods)
    ignored_mods = [mods[n] for n in ignored]
    order = {name: i for i, name in enumerate(mods)}
    found: list[tuple[list[str], int]] = []
    groups = []
    for group in graph.get_all_groups(
        ignored_layers=ignored_mods, root_module_types=[nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear]
    ):
        root = group[0].dep.target.module
        names = [
            graph._module2name[dep.target.module]
            for dep, _ in group
            if graph.is_out_channel_pruning_fn(dep.handler)
            and dep.target.module in graph._module2name
            and isinstance(dep.target.module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))
        ]
        width = graph.get_out_channels(root)
        if width is not None and width >= 2:
            found.append(
                (sorted(set(names) or {graph._module2name[root]}, key=order.__getitem__), width)
            )
    for names, width in sorted(found, key=lambda f: order[f[0][0]]):
        ratio = _group_ratio(config, names)
        keep = _keep(width, ratio, config.rounding, names[0])
        groups.append(GroupPlan(names[0], tuple(names), width, keep, ratio))
    if not groups:
        raise PruneError(
            "no layer can be channel-pruned: every conv/linear layer feeds an output or is "
            "ignored; drop --ignore entries or use --method l1-unstructured"
        )
    return groups


def _check_names(config: PruneConfig, ignored: list[str], mods: dict[str, nn.Module]) -> None:
    for name in [*dict(config.layer_ratios), *ignored]:
        if name not in mods:
            layers = [n for n, m in mods.items() if isinstance(m, (nn.Conv2d, nn.Linear))][:8]
            raise PruneError(
                f"the model has no layer '{name}'; layer names look like: {', '.join(layers)}"
            )


def step_targets(groups: list[GroupPlan], steps: int, round_to: int) -> list[dict[str, int]]:
    """Widths after each of ``steps`` pruning steps (linear in the removed channels, rounded
    to ``round_to``; the last step is the plan).
    """
    out = []
    for s in range(1, steps + 1):
        widths = {}
        for g in groups:
            keep = g.width - (g.width - g.keep) * s // steps
            if round_to > 1 and g.width > round_to:
                keep = max(g.keep, keep - keep % round_to)
            widths[g.root] = keep
        out.append(widths)
    return out


def prune_channels(
    module: nn.Module, example: torch.Tensor, targets: dict[str, int], ignored: list[str]
) -> None:
    """Prune ``module`` in place so that each group root has ``targets[root]`` channels.

    Raises:
        PruneError: Torch-Pruning fails (the message names the exception), or a group did not
            reach its planned width.
    """
    mods = dict(module.named_modules())
    ratios: dict[nn.Module, float] = {}
    for root, keep in targets.items():
        width = out_width(mods[root])
        if keep < width:  # +0.5: int(width * (1 - r)) is exactly keep despite float rounding
            ratios[mods[root]] = 1.0 - (keep + 0.5) / width
    if not ratios:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pruner = tp.pruner.BasePruner(
                module,
                example,
                tp.importance.GroupMagnitudeImportance(p=2),
                pruning_ratio=0.0,
                pruning_ratio_dict=ratios,
                ignored_layers=[mods[n] for n in ignored],
            )
            pruner.step()
    except Exception as exc:
        raise PruneError(
            f"Torch-Pruning failed on this model ({type(exc).__name__}: {first_line(exc)[:160]});"
            " --ignore the layer it names, or use --method l1-unstructured"
        ) from exc
    _check_reached(mods, targets)


def _check_reached(mods: dict[str, nn.Module], targets: dict[str, int]) -> None:
    for root, keep in targets.items():
        got = out_width(mods[root])
        if got != keep:
            raise PruneError(
                f"layer '{root}' has {got} channels after pruning, not the planned {keep}: "
                "Torch-Pruning skipped or resized its group (a coupling it cannot follow); "
                f"--ignore {root}, or use --method l1-unstructured"
            )
