#!/usr/bin/env python3
"""Train the zoo's ``fashion-cnn`` on the real Fashion-MNIST and export it to ONNX.

Reads the IDX files of the Debian package ``dataset-fashion-mnist``, trains a small
conv-bn-relu CNN (``edgeinfer.zoo.archs.FashionCNN``) with PyTorch on the CPU (seeded and
deterministic), folds BatchNorm into the convolutions, exports ONNX (opset 17, dynamic batch,
``input`` float32[batch,1,28,28] -> ``logits``), and measures top-1 accuracy of the EXPORTED
model with ONNX Runtime on all 10,000 test images, through the same edgeinfer engine and
preprocessing that ``edgeinfer eval`` uses. Writes ``fashion_cnn.onnx`` and
``fashion_cnn.json`` (accuracy, training config, seed, date, versions) into ``--out``.

    nice -n 10 .venv/bin/python scripts/train_fashion.py              # the committed model
    .venv/bin/python scripts/train_fashion.py --quick --out /tmp/fc   # smoke test (~1 min)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
ASSETS = Path(__file__).resolve().parents[1] / "src" / "edgeinfer" / "zoo" / "assets"
EVAL_BATCH = 250  # the batch the committed accuracy is measured with (10,000 / 250 = 40)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 15
    width: int = 20
    batch: int = 256
    max_lr: float = 0.006
    weight_decay: float = 0.0005
    label_smoothing: float = 0.05
    dropout: float = 0.2
    pad_crop: int = 2
    hflip: bool = True
    seed: int = 0
    threads: int = 1
    train_limit: int | None = None


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (Fashion-MNIST images uint8[N,28,28] or labels uint8[N])."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic >> 8 != 0x08:  # 0x0000080D: unsigned byte, D dims
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    y = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz")
    return x, y


def normalize(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Exactly the float32 arithmetic of ``PreprocessSpec.apply`` (scale 1/255, mean, std)."""
    a = np.asarray(1.0 / 255.0, np.float32) / np.asarray(std, np.float32)
    b = -np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    return (x.astype(np.float32) * a + b)[:, None]


def augment(x: Any, pad: int, hflip: bool, gen: Any) -> Any:
    """Random crop with zero padding (in normalized space: the background value) and h-flip."""
    import torch

    n, _, h, w = x.shape
    bg = float(x.amin())
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=bg)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, :]
    out = xp[torch.arange(n)[:, None, None], 0, rows, cols][:, None]
    if hflip:
        flip = torch.rand(n, generator=gen) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out


def _accuracy(model: Any, x: Any, y: Any) -> float:
    """Top-1 of the torch model on normalized tensors (monitoring only)."""
    import torch

    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    model.train()
    return float((pred == y).float().mean())


def train(
    cfg: TrainConfig, x: np.ndarray, y: np.ndarray, quiet: bool, monitor: tuple[Any, Any]
) -> Any:
    import torch

    from edgeinfer.progress import Progress
    from edgeinfer.zoo.archs import FashionCNN

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = FashionCNN(width=cfg.width, dropout=cfg.dropout)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    steps = (len(xt) + cfg.batch - 1) // cfg.batch
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.max_lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.max_lr, epochs=cfg.epochs, steps_per_epoch=steps
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    with Progress(quiet) as progress, progress.task("training", cfg.epochs * steps) as task:
        for epoch in range(cfg.epochs):
            model.train()
            perm = torch.randperm(len(xt), generator=gen)
            total, correct, seen = 0.0, 0, 0
            for i in range(steps):
                idx = perm[i * cfg.batch : (i + 1) * cfg.batch]
                xb = augment(xt[idx], cfg.pad_crop, cfg.hflip, gen)
                logits = model(xb)
                loss = loss_fn(logits, yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
                correct += int((logits.argmax(1) == yt[idx]).sum())
                seen += len(idx)
                task.advance()
            print(
                f"epoch {epoch + 1}/{cfg.epochs}: loss {total / seen:.4f} "
                f"train acc {correct / seen:.4f} "
                f"test acc (torch, monitoring) {_accuracy(model, *monitor):.4f}",
                file=sys.stderr,
                flush=True,
            )
    return model.eval()


def fold_bn(model: Any) -> Any:
    """Fold every Conv2d -> BatchNorm2d pair of the (eval-mode) model into the conv."""
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from edgeinfer.zoo.archs import Conv2dNormActivation

    for block in model.modules():
        if isinstance(block, Conv2dNormActivation):
            conv, bn = block[0], block[1]
            assert isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)
            block[0] = fuse_conv_bn_eval(conv, bn)
            block[1] = torch.nn.Identity()
    return model


def export_onnx(model: Any, path: Path) -> None:
    import torch

    model = fold_bn(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, 28, 28),),
            str(tmp),
            input_names=["input"],
            output_names=["logits"],
            opset_version=17,
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    tmp.replace(path)


def measure(onnx_path: Path, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Top-1 of the exported model through an edgeinfer ORT engine and a plain ORT session."""
    import onnxruntime as ort

    from edgeinfer.builder import build, load_runner
    from edgeinfer.preprocess import spec_from_metadata

    engine = build(onnx_path)
    spec = spec_from_metadata(engine.metadata)
    assert spec is not None, "exported model has no preprocessing metadata"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    pred_engine = np.empty(len(y), np.int64)
    pred_plain = np.empty(len(y), np.int64)
    with load_runner(engine) as runner:
        for s in range(0, len(y), EVAL_BATCH):
            batch = spec.apply_batch(list(x[s : s + EVAL_BATCH]))
            out = runner.infer({"input": batch})["logits"]
            pred_engine[s : s + len(batch)] = out.argmax(1)
            pred_plain[s : s + len(batch)] = session.run(None, {"input": batch})[0].argmax(1)
    correct = int((pred_engine == y).sum())
    return {
        "top1": correct / len(y),
        "correct": correct,
        "n": len(y),
        "eval_batch": EVAL_BATCH,
        "agrees_with_plain_onnxruntime": bool((pred_engine == pred_plain).all()),
        "plain_onnxruntime_correct": int((pred_plain == y).sum()),
    }


def attach_metadata(path: Path, mean: float, std: float) -> None:
    from edgeinfer.model import Model
    from edgeinfer.zoo.fashion import FASHION_LABELS, fashion_preprocess

    model = Model.load(path).with_meta(
        preprocess=fashion_preprocess(mean, std).to_dict(),
        labels=list(FASHION_LABELS),
        task="classification",
    )
    model.save(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--data", type=Path, default=DATA_DIR, help="Fashion-MNIST IDX directory")
    ap.add_argument("--out", type=Path, default=ASSETS, help="output directory")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--width", type=int, default=TrainConfig.width)
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--threads", type=int, default=TrainConfig.threads)
    ap.add_argument("--quick", action="store_true", help="1 epoch on 6,000 images (smoke test)")
    ap.add_argument(
        "--measure-only",
        action="store_true",
        help="no training: re-measure the ONNX in --out and update its JSON record",
    )
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    cfg = TrainConfig(
        epochs=1 if args.quick else args.epochs,
        width=args.width,
        seed=args.seed,
        threads=args.threads,
        train_limit=6000 if args.quick else None,
    )
    if args.measure_only:
        return remeasure(args.data, args.out)
    return run(cfg, args.data, args.out, args.quiet, argv)


def remeasure(data: Path, out: Path) -> int:
    """Measure ``out/fashion_cnn.onnx`` again and update ``test_accuracy`` in its record."""
    import onnxruntime

    from edgeinfer.fileio import atomic_write_json

    record_path = out / "fashion_cnn.json"
    record = json.loads(record_path.read_text())
    x_test, y_test = load_split(data, "test")
    record["test_accuracy"] = acc = measure(out / "fashion_cnn.onnx", x_test, y_test)
    record["onnxruntime_version"] = onnxruntime.__version__
    atomic_write_json(record_path, record)
    print(f"test top-1 (ONNX, onnxruntime, {acc['n']} images): {acc['top1']!r}")
    return 0


def run(cfg: TrainConfig, data: Path, out: Path, quiet: bool, argv: list[str] | None) -> int:
    import onnxruntime
    import torch

    from edgeinfer.fileio import atomic_write_json

    x_train, y_train = load_split(data, "train")
    x_test, y_test = load_split(data, "test")
    if cfg.train_limit:
        x_train, y_train = x_train[: cfg.train_limit], y_train[: cfg.train_limit]
    mean = round(float(x_train.mean()) / 255.0, 4)
    std = round(float((x_train / 255.0).std()), 4)
    t0 = time.perf_counter()
    monitor = (
        torch.from_numpy(normalize(x_test, mean, std)),
        torch.from_numpy(y_test.astype(np.int64)),
    )
    model = train(cfg, normalize(x_train, mean, std), y_train, quiet, monitor)
    train_seconds = time.perf_counter() - t0
    onnx_path = out / "fashion_cnn.onnx"
    export_onnx(model, onnx_path)
    attach_metadata(onnx_path, mean, std)
    acc = measure(onnx_path, x_test, y_test)
    record = {
        "name": "fashion-cnn",
        "test_accuracy": acc,
        "train_config": asdict(cfg),
        "normalization": {"mean": mean, "std": std, "scale": 1 / 255},
        "params": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 1),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "onnxruntime_version": onnxruntime.__version__,
        "python": platform.python_version(),
        "data": {"source": "Debian package dataset-fashion-mnist", "dir": str(data)},
        "command": " ".join(["scripts/train_fashion.py", *(argv or sys.argv[1:])]),
    }
    atomic_write_json(out / "fashion_cnn.json", record)
    print(f"test top-1 (ONNX, onnxruntime, {acc['n']} images): {acc['top1']!r}")
    print(f"training time: {train_seconds:.1f} s; wrote {onnx_path} and fashion_cnn.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
