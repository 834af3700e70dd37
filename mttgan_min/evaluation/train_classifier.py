"""Training one evaluation classifier (Sec. V): softmax cross-entropy, Adam, batch 32, a 30% validation split.

The paper gives Adam with lr 1e-5, 50 epochs and 30% of the training set held out for validation; the
rest follows Keras' defaults (docs/design.md, "Classifier training"): Adam beta1 0.9, beta2 0.999,
epsilon 1e-7; batch 32; no augmentation; the final-epoch model is reported (``select="best"`` keeps the
weights of the epoch with the best validation accuracy instead). The validation split is stratified by
class, shuffled and seeded (Keras' ``validation_split`` would take the last 30% of class-sorted arrays,
i.e. one class).

Resumable: after every epoch the network, the Adam moments and the history are written to one
checkpoint; the batch order and dropout of epoch e come from generators seeded by (seed, e), so a
resumed training repeats exactly what an uninterrupted one would do (on the CPU).
"""
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import backend
from ..adam import Adam
from ..layers.activations import softmax
from ..layers.base import infer
from ..losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..run.checkpoint import load_checkpoint, save_checkpoint
from ..run.loop import NonFiniteError, Stopped

BATCH = 32
VAL_FRACTION = 0.3
KERAS_ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-7)
HISTORY_FIELDS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")


def stratified_split(labels, fraction=VAL_FRACTION, seed=0):
    """(train_index, val_index), int arrays: round(fraction * n_c) images of each class c to validation,
    drawn by a seeded shuffle; both index arrays are shuffled (classes mixed)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng([int(seed), 7001])
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(fraction * len(idx)))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


def train_step(net, opt, x, y):
    """One training batch: softmax cross-entropy of ``net`` on x (B, S, S, 1) with int labels y (B,), its
    backward and one ``opt`` step. Returns (loss, logits (B, K)), both on the device."""
    net.zero_grad()
    logits = net.forward(x)
    loss, cache = softmax_cross_entropy_forward(logits, y)
    net.backward(softmax_cross_entropy_backward(cache))
    opt.step()
    return loss, logits


def predict_logits(net, images, xp, batch=64):
    """Logits (N, K) NumPy float32 of images (N, S, S, 1) NumPy, the network in inference mode."""
    return infer(net, images, xp, batch)


def predict_proba(net, images, xp, batch=64):
    """Class probabilities (N, K) NumPy float64 (softmax of the logits, computed in float64)."""
    return softmax(predict_logits(net, images, xp, batch).astype(np.float64))


def evaluate_split(net, images, labels, xp, batch=64):
    """(mean cross-entropy, accuracy) of the network on a labelled set, inference mode."""
    logits = predict_logits(net, images, xp, batch).astype(np.float64)
    loss, _ = softmax_cross_entropy_forward(logits, labels)
    return float(loss), float(np.mean(logits.argmax(1) == labels))


def train_classifier(net, images, labels, *, epochs, lr=1e-5, seed=0, xp=np, select="final",
                     checkpoint=None, stop=None, progress=True, desc="classifier"):
    """Train ``net`` in place on images (N, S, S, 1) float32 NumPy with int labels (N,).

    Returns a dict: history (list of per-epoch dicts, HISTORY_FIELDS), val_accuracy and val_loss of the
    returned weights, epoch (the epoch those weights come from), select, split (train/val sizes).
    ``checkpoint``: a path; an existing file there is resumed from, and it is rewritten after every epoch.
    ``stop``: an object whose ``signum`` becomes non-None on Ctrl-C/SIGTERM (run.loop.StopFlag); training
    then raises ``Stopped`` after the current batch, and the last finished epoch is what resumes.
    """
    if select not in ("final", "best"):
        raise ValueError(f"select must be 'final' or 'best', got {select!r}")
    labels = np.asarray(labels, dtype=np.int64)
    train_idx, val_idx = stratified_split(labels, VAL_FRACTION, seed)
    x_val, y_val = images[val_idx], labels[val_idx]
    if net.layers and hasattr(net.layers[0], "fit"):
        net.layers[0].fit(images[train_idx])        # input standardisation from the training split only
    net.to(xp)
    opt = Adam(net, lr=lr, **KERAS_ADAM)
    history, best = [], {"val_accuracy": -1.0, "epoch": 0, "state": None}
    if checkpoint is not None and Path(checkpoint).is_file():
        groups, meta = load_checkpoint(checkpoint)
        net.load_state_dict(groups["net"])
        opt.load_state_dict(groups["opt"])
        history = meta["history"]
        best.update(val_accuracy=meta["best_val_accuracy"], epoch=meta["best_epoch"],
                    state=groups.get("best") or None)
    n_batches = math.ceil(len(train_idx) / BATCH)
    start = len(history)
    bar = tqdm(total=epochs * n_batches, initial=start * n_batches, desc=desc, unit="batch", leave=False,
               disable=None if progress else True)
    try:
        for epoch in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            order = np.random.default_rng([int(seed), epoch]).permutation(train_idx)
            net.set_rng(backend.make_rng(xp, int(seed) * 100_003 + epoch)).set_training(True)
            # Running sums stay on the device and are read once per epoch: float(loss) or int(count) in
            # the batch loop would make the GPU wait for every batch.
            loss_sum, correct = xp.zeros((), dtype=xp.float64), xp.zeros((), dtype=xp.int64)
            for b in range(n_batches):
                pick = order[b * BATCH:(b + 1) * BATCH]
                x = backend.to_device(images[pick], xp)
                y = backend.to_device(labels[pick], xp)
                loss, logits = train_step(net, opt, x, y)
                loss_sum += xp.asarray(loss, dtype=xp.float64) * len(pick)
                correct += (logits.argmax(1) == y).sum()
                bar.update(1)
                if stop is not None and stop.signum is not None:
                    raise Stopped(128 + int(stop.signum))
            net.clear_cache()
            loss_sum, correct = float(loss_sum), int(correct)
            if not math.isfinite(loss_sum):
                raise NonFiniteError(f"the training loss of {desc} is not finite at epoch {epoch}")
            val_loss, val_acc = evaluate_split(net, x_val, y_val, xp)
            history.append(dict(epoch=epoch, train_loss=loss_sum / len(train_idx),
                                train_accuracy=correct / len(train_idx), val_loss=val_loss,
                                val_accuracy=val_acc, seconds=time.perf_counter() - t0))
            bar.set_postfix(val_acc=f"{val_acc:.3f}")
            if select == "best" and val_acc > best["val_accuracy"]:
                best.update(val_accuracy=val_acc, epoch=epoch,
                            state={k: backend.to_numpy(v).copy() for k, v in net.state_dict().items()})
            if checkpoint is not None:
                save_checkpoint(checkpoint, {"net": net.state_dict(), "opt": opt.state_dict(),
                                             "best": best["state"] or {}},
                                {"history": history, "best_val_accuracy": best["val_accuracy"],
                                 "best_epoch": best["epoch"], "select": select})
    finally:
        bar.close()
    if select == "best" and best["state"] is not None:
        net.load_state_dict(best["state"])
        chosen = history[best["epoch"] - 1]
    else:
        chosen = history[-1] if history else {"epoch": 0, "val_loss": float("nan"), "val_accuracy": float("nan")}
    net.set_training(False)
    return {"history": history, "val_accuracy": chosen["val_accuracy"], "val_loss": chosen["val_loss"],
            "epoch": chosen["epoch"], "select": select,
            "split": {"train": int(len(train_idx)), "val": int(len(val_idx))}}


def write_curves(history, csv_path, png_path, title=""):
    """Per-epoch curves as CSV (HISTORY_FIELDS) and a two-panel PNG (loss, accuracy; train and validation)."""
    import csv
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic_write

    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=HISTORY_FIELDS)
    w.writeheader()
    w.writerows({k: (f"{h[k]:.6g}" if isinstance(h[k], float) else h[k]) for k in HISTORY_FIELDS} for h in history)
    atomic_write(csv_path, lambda f: f.write(text.getvalue().encode()))
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="training")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    atomic_write(png_path, lambda f: f.write(buf.getvalue()))
