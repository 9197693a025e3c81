"""Fine-tuning a pruned module on CPU (or CUDA): labels, distillation from the unpruned
model, or both.

Measured on fashion-cnn (docs/pruning.md): BatchNorm must train (frozen statistics recover
to 76% after an epoch, training ones to 88%), so :func:`reinflate_batchnorm` first gives
every BatchNorm the real statistics of its input without changing what the model computes
(models exported with BatchNorm folded carry mean 0 / variance 1). AdamW with a one-cycle
schedule; augmentation by random shifts and horizontal flips; the teacher (the unpruned
model) sees the same augmented batch. An estimate of the time is reported after a few
steps, and every epoch is timed and scored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgeinfer.errors import DataError
from edgeinfer.progress import Progress
from edgeinfer.prune.config import FinetuneConfig
from edgeinfer.prune.data import Tensors
from edgeinfer.prune.quality import device_of, first_tensor
from edgeinfer.prune.record import EpochRecord

__all__ = ["augment", "finetune", "reinflate_batchnorm", "threads"]

Log = Callable[[str], None]
STAT_SAMPLES = 10_000
ESTIMATE_STEPS = 5


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads (None: unchanged); restore after."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def reinflate_batchnorm(module: nn.Module, x: torch.Tensor) -> int:
    """Give every BatchNorm the mean/variance of its real input on ``x`` (up to 10k samples)
    and rescale its affine parameters so the eval-mode function is unchanged; returns the
    number of BatchNorm layers.
    """
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    sums: dict[nn.Module, list[Any]] = {bn: [0.0, 0.0, 0] for bn in bns}

    def hook(bn: nn.Module, inp: tuple[torch.Tensor, ...], _out: Any) -> None:
        z = inp[0].transpose(0, 1).reshape(inp[0].shape[1], -1).double()
        acc = sums[bn]
        acc[0] = acc[0] + z.sum(1)
        acc[1] = acc[1] + (z * z).sum(1)
        acc[2] += z.shape[1]

    handles = [bn.register_forward_hook(hook) for bn in bns]
    device = device_of(module)
    was_training = module.training
    module.eval()
    try:
        sample = x[:STAT_SAMPLES]
        for i in range(0, len(sample), 250):
            module(sample[i : i + 250].to(device))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    for bn in bns:
        total, squares, n = sums[bn]
        if not n or bn.running_mean is None or bn.running_var is None:
            continue
        mean = (total / n).float()
        var = (squares / n - (total / n) ** 2).clamp_min(1e-8).float()
        scale = (bn.weight if bn.affine else 1.0) / torch.sqrt(bn.running_var + bn.eps)
        shift = (bn.bias if bn.affine else 0.0) - bn.running_mean * scale
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        if bn.affine:
            bn.weight.copy_(scale * torch.sqrt(var + bn.eps))
            bn.bias.copy_(shift + scale * mean)
    return len(bns)


def augment(x: torch.Tensor, mode: str, gen: torch.Generator) -> torch.Tensor:
    """Random shifts (replicate-padded crops, up to 1/14 of the size) and, for
    ``shift-flip``, horizontal flips of an image batch ``[N, C, H, W]``; other shapes and
    ``none`` pass through.
    """
    if mode == "none" or x.dim() != 4:
        return x
    n, _, h, w = x.shape
    pad = max(1, min(h, w) // 14)
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    out = xp[
        torch.arange(n)[:, None, None, None],
        torch.arange(x.shape[1])[None, :, None, None],
        rows,
        cols,
    ]
    if mode == "shift-flip":
        flip = torch.rand(n, generator=gen) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out


def _distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL divergence of softened class scores (x T^2), or MSE for outputs that are not
    ``[batch, classes]``.
    """
    if student.dim() != 2:
        return F.mse_loss(student, teacher)
    t = temperature
    return F.kl_div(
        F.log_softmax(student / t, 1), F.softmax(teacher / t, 1), reduction="batchmean"
    ) * (t * t)


class _Loss:
    """The training loss for one batch: cross-entropy on labels and/or distillation."""

    def __init__(self, cfg: FinetuneConfig, teacher: nn.Module | None, labelled: bool) -> None:
        if not labelled and teacher is None:
            raise DataError(
                "the training data has no labels; fine-tune with --distill (the unpruned "
                "model teaches), or pass labelled data"
            )
        self.cfg = cfg
        self.teacher = teacher
        self.labelled = labelled
        self.ce = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def __call__(self, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        loss = None
        if self.teacher is not None:
            with torch.no_grad():
                target = first_tensor(self.teacher(x))
            loss = _distill_loss(out, target, self.cfg.temperature)
        if self.labelled and y is not None:
            ce = self.ce(out, y)
            loss = ce if loss is None else (1 - self.cfg.alpha) * ce + self.cfg.alpha * loss
        assert loss is not None
        return loss


def _set_train(module: nn.Module) -> None:
    module.train()


def finetune(
    student: nn.Module,
    teacher: nn.Module | None,
    data: Tensors,
    cfg: FinetuneConfig,
    *,
    score: Callable[[nn.Module], float | None] | None = None,
    step: int = 1,
    log: Log | None = None,
    quiet: bool | None = True,
) -> list[EpochRecord]:
    """Fine-tune ``student`` in place for ``cfg.epochs`` epochs; returns one record per epoch.

    Args:
        student: the pruned module.
        teacher: the unpruned module for distillation (None: labels only).
        data: training tensors (labels needed unless ``teacher`` is given).
        cfg: epochs, learning rate, batch size, augmentation, threads, device, seed.
        score: scores the student after each epoch (None: no scoring).
        step: the pruning step these epochs follow (for the records).
        log: receives the time estimate and one line per epoch.
        quiet: no progress bars.
    """
    device = cfg.device
    if teacher is not None:
        teacher.eval().to(device)
    loss_fn = _Loss(cfg, teacher, data.y is not None)
    student.to(device)
    steps = -(-len(data) // cfg.batch_size)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=steps, pct_start=0.15
    )
    gen = torch.Generator().manual_seed(cfg.seed + step)
    history: list[EpochRecord] = []
    with Progress(quiet) as progress:
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            title = f"fine-tuning step {step}, epoch {epoch}/{cfg.epochs}"
            with progress.task(title, steps) as task:
                loss = _epoch(
                    student,
                    data,
                    cfg,
                    loss_fn,
                    opt,
                    sched,
                    gen,
                    task,
                    log if epoch == 1 else None,
                    steps,
                )
            quality = score(student) if score is not None else None
            record = EpochRecord(
                step, epoch, round(loss, 5), quality, round(time.perf_counter() - t0, 2)
            )
            history.append(record)
            if log is not None:
                q = "" if quality is None else f", quality {quality:.4f}"
                log(f"{title}: loss {loss:.4f}{q} ({record.seconds:.0f} s)")
    student.eval()
    return history


def _epoch(
    student: nn.Module,
    data: Tensors,
    cfg: FinetuneConfig,
    loss_fn: _Loss,
    opt: Any,
    sched: Any,
    gen: torch.Generator,
    task: Any,
    log: Log | None,
    steps: int,
) -> float:
    """One pass over ``data``; returns the mean loss. Logs the time estimate after a few steps."""
    _set_train(student)
    perm = torch.randperm(len(data), generator=gen)
    total, t0 = 0.0, time.perf_counter()
    for i in range(steps):
        idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        x = augment(data.x[idx], cfg.augment, gen).to(cfg.device)
        y = None if data.y is None else data.y[idx].to(cfg.device)
        loss = loss_fn(first_tensor(student(x)), x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach())
        task.advance()
        if log is not None and i + 1 == min(ESTIMATE_STEPS, steps):
            per_step = (time.perf_counter() - t0) / (i + 1)
            minutes = per_step * steps * cfg.epochs / 60
            log(
                f"fine-tuning: {cfg.epochs} epoch(s) x {steps} steps of {cfg.batch_size}; "
                f"{per_step:.2f} s/step here, about {minutes:.1f} min for this pruning step"
            )
    return total / steps
