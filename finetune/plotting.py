"""The loss curve of a training run as a PNG, from the Trainer's log history.

Drawn with matplotlib's object API on an Agg canvas: no display, no global ``pyplot`` state, safe in
threads and on servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_loss_curve"]


def plot_loss_curve(history: Sequence[dict[str, Any]], path: str | Path, title: str = "Training loss") -> Path | None:
    """Plot ``loss`` against ``step`` from log entries; returns the file, or None when nothing was logged."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = [(int(e["step"]), float(e["loss"])) for e in history if "loss" in e and "step" in e]
    if not points:
        return None
    steps, losses = zip(*points, strict=True)
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.plot(steps, losses, marker="o" if len(points) < 30 else None, linewidth=1.5)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
