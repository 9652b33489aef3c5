"""What a resumed run may change in its config, and the record of what it changed.

A run's `config.json` must say how its checkpoints were made. On resume the new config is
compared with it field by field (dotted names):

- fields in `RESUMABLE_FIELDS` change only how long or how visibly a run goes (the step budget,
  logging, sample grids, checkpoint and evaluation intervals, where the data lives, how many
  devices share the batch); they may change, and the change is recorded;
- any other change (objective, learning rates, batch size, networks, game, dataset, seed, ...)
  is refused with a `ConfigChangedError` listing each field as `old -> new`, unless the caller
  allows it (`gans train --allow_config_change`).

An accepted change rewrites `config.json` to the config now in force and appends one line per
field to `config_history.jsonl`: {"step", "field", "old", "new", "allowed_by_flag", "time"}.
`num_steps` is not resumable under a learning-rate schedule other than 'constant', whose rates
are a function of it.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import ml_collections

from gans import config as config_lib

HISTORY_FILENAME = 'config_history.jsonl'
RESUMABLE_FIELDS = frozenset({
    'num_steps', 'log_every', 'sample_every', 'grid_size', 'checkpoint_every', 'max_to_keep', 'eval_every',
    'eval_num_samples', 'data_dir', 'num_devices'})


class ConfigChangedError(ValueError):
    """A resume under a config that changes how the run trains."""


def refused(changed: dict[str, tuple[Any, Any]], new: ml_collections.ConfigDict) -> list[str]:
    """The changed fields a resume may not change without the flag."""
    names = [name for name in changed if name not in RESUMABLE_FIELDS]
    if 'num_steps' in changed and new.optim.lr_schedule != 'constant':
        names.append('num_steps')  # the schedule's rates depend on it
    return sorted(names)


def check(workdir: str, new: ml_collections.ConfigDict, allow: bool) -> dict[str, tuple[Any, Any]]:
    """The changes of `new` from the workdir's config.json; raises ConfigChangedError for a refused
    one unless `allow`. Writes nothing (see `record`)."""
    try:
        saved = config_lib.load_workdir_config(workdir)
    except FileNotFoundError:
        return {}
    changed = config_lib.changes(saved, new)
    bad = refused(changed, new)
    if bad and not allow:
        lines = '\n'.join(f'  {name}: {changed[name][0]!r} -> {changed[name][1]!r}' for name in bad)
        raise ConfigChangedError(
            f'{workdir} was trained under another config; resuming it with this one would change how it '
            f'trains while {config_lib.CONFIG_FILENAME} records the old one. Changed:\n{lines}\n'
            f'Nothing was changed. Resume with the old values, train into a new --workdir, or pass '
            f'--allow_config_change to continue under the new config (recorded in {HISTORY_FILENAME}). '
            f'Free to change on resume: {", ".join(sorted(RESUMABLE_FIELDS))}')
    return changed


def record(workdir: str, new: ml_collections.ConfigDict, changed: dict[str, tuple[Any, Any]], step: int,
           allow: bool) -> None:
    """Rewrites config.json to `new` and appends the changes to config_history.jsonl."""
    if not changed:
        return
    stamp = time.strftime('%Y-%m-%d %H:%M:%S %Z')
    bad = set(refused(changed, new))
    with open(os.path.join(workdir, HISTORY_FILENAME), 'a') as f:
        for name, (old, now) in changed.items():
            f.write(json.dumps({'step': step, 'field': name, 'old': old, 'new': now,
                                'allowed_by_flag': allow and name in bad, 'time': stamp}) + '\n')
    config_lib.save_config(new, workdir)


def history(workdir: str) -> list[dict[str, Any]]:
    path = os.path.join(workdir, HISTORY_FILENAME)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
