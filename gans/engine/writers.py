"""Where a run reports: a JSONL metrics log, TensorBoard scalars, sample-grid images and the config
as text and hparams, and a terminal progress bar."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import tqdm

from gans import config as config_lib

METRICS_FILENAME = 'metrics.jsonl'


class MetricWriter:
    """Appends `{"step": s, name: value, ...}` lines and mirrors them as TensorBoard scalars."""

    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        self._jsonl = open(os.path.join(workdir, METRICS_FILENAME), 'a')
        # Imported here: it is only needed by the process that writes.
        from tensorboardX import SummaryWriter
        self._tensorboard = SummaryWriter(os.path.join(workdir, 'tensorboard'))

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        self._jsonl.write(json.dumps({'step': step, **{k: float(v) for k, v in metrics.items()}}) + '\n')
        self._jsonl.flush()
        for name, value in metrics.items():
            self._tensorboard.add_scalar(name, float(value), step)

    def image(self, step: int, name: str, image) -> None:
        """A uint8 HWC image (a sample grid) as a TensorBoard image."""
        if self.enabled:
            self._tensorboard.add_image(name, image, step, dataformats='HWC')
            self._tensorboard.flush()

    def text(self, name: str, text: str, step: int = 0) -> None:
        """Text (the run's config) for TensorBoard's text tab, shown as written."""
        if self.enabled:
            self._tensorboard.add_text(name, '    ' + text.replace('\n', '\n    '), step)

    def hparams(self, config: Mapping[str, Any], metrics: Sequence[str], step: int = 0) -> None:
        """The run's config as TensorBoard hparams (dotted keys, e.g. `gan.loss`; tuples as text),
        so that runs compare in the HParams tab, which shows them beside the scalars `metrics`.

        Written into the run's own event file (tensorboardX's `add_hparams` would open a second
        run directory and log dummy metric values there)."""
        if not self.enabled:
            return
        from tensorboardX.summary import hparams
        values = {key: value if isinstance(value, (bool, int, float, str)) else str(value)
                  for key, value in config_lib.flatten(dict(config)).items() if value is not None}
        file_writer = self._tensorboard._get_file_writer()  # pylint: disable=protected-access
        for summary in hparams(values, {name: 0.0 for name in metrics}):
            file_writer.add_summary(summary, step)

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            self._tensorboard.close()


class ProgressBar:
    """Step, steps/s, D and G loss, and ETA on one line (tqdm computes the rate and ETA)."""

    def __init__(self, total: int, initial: int, enabled: bool = True):
        self._bar = tqdm.tqdm(total=total, initial=initial, unit='step', dynamic_ncols=True,
                              disable=not enabled, file=sys.stderr, mininterval=1.0)

    def update(self, step: int, metrics: Mapping[str, float]) -> None:
        self._bar.update(step - self._bar.n)
        self._bar.set_postfix({k: f'{float(metrics[k]):.3f}' for k in ('d_loss', 'g_loss') if k in metrics},
                              refresh=False)

    def close(self) -> None:
        self._bar.close()


def drop_metrics_after(workdir: str, step: int) -> int:
    """Moves metric lines of steps after `step` (logged before a crash, about to be redone) aside.

    Keeps metrics.jsonl the curve of one uninterrupted run; the moved lines are appended to
    metrics.jsonl.dropped, not deleted. Returns how many lines moved.
    """
    path = os.path.join(workdir, METRICS_FILENAME)
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        lines = f.readlines()
    keep, drop = [], []
    for line in lines:
        try:
            later = json.loads(line)['step'] > step
        except (ValueError, KeyError, TypeError):
            later = not line.endswith('\n')  # a line torn by the crash; anything else is kept
        (drop if later else keep).append(line if line.endswith('\n') else line + '\n')
    if drop:
        with open(path + '.dropped', 'a') as f:
            f.writelines(drop)
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.writelines(keep)
        os.replace(tmp, path)
    return len(drop)
