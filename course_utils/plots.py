"""Loss curves drawn from a Trainer's log history, so notebooks show them even without TensorBoard."""
from __future__ import annotations

import matplotlib.pyplot as plt


def loss_series(log_history: list[dict], key: str = "loss") -> tuple[list[int], list[float]]:
    """(steps, values) of one logged metric, e.g. 'loss' or 'eval_loss'."""
    points = [(entry["step"], entry[key]) for entry in log_history if key in entry]
    return [s for s, _ in points], [v for _, v in points]


def plot_losses(log_history: list[dict], title: str = "loss", ax=None):
    """Train and eval loss against the optimizer step, on one axis."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    for key, style in (("loss", "-o"), ("eval_loss", "--s")):
        steps, values = loss_series(log_history, key)
        if steps:
            ax.plot(steps, values, style, label=key, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
