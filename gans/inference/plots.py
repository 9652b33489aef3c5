"""`gans plot`: a run's curves from its metrics.jsonl as one PNG, for users without TensorBoard."""
from __future__ import annotations

import json
import math
import os

import numpy as np

from gans.engine.writers import METRICS_FILENAME

# Logged every step but not a curve to read (wall-clock rate).
SKIPPED = ('steps_per_s',)


def read_metrics(workdir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{metric: (steps, values)} of every finite value logged in workdir's metrics.jsonl."""
    path = os.path.join(workdir, METRICS_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{workdir!r} holds no {METRICS_FILENAME}: is it the workdir of a `gans train` run?')
    curves: dict[str, list[tuple[int, float]]] = {}
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            for name, value in record.items():
                if name != 'step' and name not in SKIPPED and isinstance(value, (int, float)) and math.isfinite(value):
                    curves.setdefault(name, []).append((record['step'], value))
    if not curves:
        raise ValueError(f'{path} holds no metrics yet')
    return {name: (np.array([s for s, _ in points]), np.array([v for _, v in points]))
            for name, points in sorted(curves.items())}


def plot_metrics(workdir: str, out: str) -> list[str]:
    """Writes the losses (one panel) and every other metric (a panel each) to `out`; returns the names."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    curves = read_metrics(workdir)
    losses = [n for n in curves if n.endswith('loss')]
    panels = ([losses] if losses else []) + [[n] for n in curves if n not in losses]
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.2 * rows), squeeze=False)
    for ax, names in zip(axes.flat, panels):
        for name in names:
            steps, values = curves[name]
            ax.plot(steps, values, label=name, linewidth=1)
        ax.set_xlabel('step')
        ax.set_title(names[0] if len(names) == 1 else 'losses')
        if len(names) > 1:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis('off')
    fig.suptitle(os.path.basename(os.path.abspath(workdir)))
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return list(curves)
