"""The pictures of fine-tuning: a training run's loss curve, and the before/after bar chart of an evaluation
(one group of bars per metric, one bar per system; the numbers are in the Markdown table written beside it).

Drawn with matplotlib's object API on an Agg canvas: no display, no global ``pyplot`` state, safe in threads
and on servers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_loss_curve", "plot_metric_comparison"]


def plot_metric_comparison(
    values: Mapping[str, Mapping[str, float]], path: str | Path, title: str = "Retrieval quality"
) -> Path:
    """Write a grouped bar chart of ``{system: {metric: value}}`` (values in [0, 1]) to ``path`` (PNG).

    Every system must report the same metrics; each bar is labelled with its value.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    systems = list(values)
    if not systems:
        raise ValueError("Nothing to plot: give at least one system's metrics.")
    metrics = list(values[systems[0]])
    for system in systems:
        if list(values[system]) != metrics:
            raise ValueError(f"{system!r} reports {list(values[system])}, but {systems[0]!r} reports {metrics}; "
                             "compare systems on the same metrics.")
    width = 0.8 / len(systems)
    figure = Figure(figsize=(max(6.0, 1.6 * len(metrics) * max(1, len(systems) / 2)), 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for i, system in enumerate(systems):
        xs = [m + (i - (len(systems) - 1) / 2) * width for m in range(len(metrics))]
        bars = axes.bar(xs, [values[system][m] for m in metrics], width, label=system)
        axes.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    axes.set_xticks(range(len(metrics)), metrics)
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("score")
    axes.set_title(title)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(systems), 3), fontsize=8, frameon=False)
    axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


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
