"""How good a (pruned) module is, in torch: top-1 on labelled data, or agreement with the
unpruned model on unlabelled data (the same definitions as ``edgeinfer compare``: top-1
agreement, agreement where the unpruned model is confident, and whether its top-1 class is in
the pruned model's top 5).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeinfer.prune.data import Tensors

__all__ = ["CONFIDENCE", "Judge", "logits"]

CONFIDENCE = 0.5  # the unpruned model's top-1 probability that makes an input "confident"
EVAL_BATCH = 250


def first_tensor(out: Any) -> torch.Tensor:
    """The first tensor of a module's output (a tensor, or a tuple/list/dict holding some)."""
    if isinstance(out, torch.Tensor):
        return out
    values = out.values() if isinstance(out, dict) else out
    for v in values:
        return first_tensor(v)
    raise TypeError("the module returned no tensor")


def device_of(module: nn.Module) -> torch.device:
    """Where ``module``'s parameters are."""
    return next(module.parameters()).device


@torch.no_grad()
def logits(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module``'s first output on ``x`` in eval mode (batched on the module's device), as
    float32 on the CPU.
    """
    device = device_of(module)
    was_training = module.training
    module.eval()
    try:
        outs = [
            first_tensor(module(x[i : i + EVAL_BATCH].to(device))).float().cpu()
            for i in range(0, len(x), EVAL_BATCH)
        ]
    finally:
        module.train(was_training)
    return torch.cat(outs)


class Judge:
    """Scores modules on one evaluation set: ``top1`` with labels, else ``agreement`` with the
    unpruned model (whose outputs are computed once).
    """

    def __init__(self, teacher: nn.Module, data: Tensors) -> None:
        self.data = data
        self.metric = "top1" if data.y is not None else "agreement"
        self.reference = logits(teacher, data.x)
        self.dense = self.score_logits(self.reference)

    def score_logits(self, out: torch.Tensor) -> float:
        """Top-1 accuracy, or top-1 agreement with the unpruned model, of outputs ``out``."""
        pred = out.reshape(len(out), -1).argmax(1)
        target = self.data.y if self.data.y is not None else self._ref_top1()
        return float((pred == target).float().mean())

    def _ref_top1(self) -> torch.Tensor:
        return self.reference.reshape(len(self.reference), -1).argmax(1)

    def score(self, module: nn.Module) -> float:
        """The metric of ``module``."""
        return self.score_logits(logits(module, self.data.x))

    def agreement_details(self, module: nn.Module) -> tuple[float | None, float | None]:
        """(agreement on confident inputs, top-1-in-top-5) for ``agreement``; else (None, None)."""
        if self.metric != "agreement":
            return None, None
        out = logits(module, self.data.x).reshape(len(self.reference), -1)
        ref = self.reference.reshape(len(self.reference), -1)
        top1 = ref.argmax(1)
        same = out.argmax(1) == top1
        conf = torch.softmax(ref, 1).max(1).values >= CONFIDENCE
        confident = float(same[conf].float().mean()) if bool(conf.any()) else None
        k = min(5, out.shape[1])
        top5 = float((out.topk(k, 1).indices == top1[:, None]).any(1).float().mean())
        return confident, top5
