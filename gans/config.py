"""Loading, overriding and validating run configs.

Configs are code: a Python file with `get_config(variant: str = '')` returning an
`ml_collections.ConfigDict`. `path:variant` selects a variant (every shipped config has
`tiny` for tests). Overrides are `key=value` strings with dotted keys, exactly what
`--config.key=value` means on the command line.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
from collections.abc import Sequence

import ml_collections

# Every config must define these top-level fields; the CLI and the engine rely on them.
REQUIRED_FIELDS = ('model', 'dataset', 'loss', 'num_steps', 'batch_size', 'seed',
                                      'checkpoint_every', 'sample_every')
CONFIG_FILENAME = 'config.json'


def load_config(path: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """Loads `path[:variant]`, applies `key=value` overrides and validates the result."""
    file_path, _, variant = path.partition(':')
    if not os.path.isfile(file_path):
        raise FileNotFoundError(f'config file not found: {file_path!r}')
    spec = importlib.util.spec_from_file_location('_gans_config', file_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, 'get_config'):
        raise ValueError(f'{file_path} defines no get_config()')
    config = module.get_config(variant) if variant else module.get_config()
    apply_overrides(config, overrides)
    return validate(config)


def apply_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str]) -> None:
    """Applies `a.b=value` strings in place; values are parsed as Python literals when they can be."""
    for item in overrides:
        key, sep, raw = item.partition('=')
        if not sep:
            raise ValueError(f'override {item!r} is not of the form key=value')
        *parents, leaf = key.removeprefix('config.').split('.')
        node = config
        for name in parents:
            if name not in node:
                raise ValueError(f'unknown config field {key!r}')
            node = node[name]
        if leaf not in node:
            raise ValueError(f'unknown config field {key!r}; fields here: {sorted(node.keys())}')
        node[leaf] = _parse_value(raw, node[leaf])


def _parse_value(raw: str, current):
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # bare strings like `loss=hinge`
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Checks the fields every run needs; raises ValueError naming what is wrong."""
    missing = [f for f in REQUIRED_FIELDS if f not in config]
    if missing:
        raise ValueError(f'config lacks required fields {missing}; every config defines {list(REQUIRED_FIELDS)}')
    for name in ('num_steps', 'batch_size', 'checkpoint_every', 'sample_every'):
        value = config[name]
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f'config.{name} must be a positive integer, got {value!r}')
    return config


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    with open(os.path.join(workdir, CONFIG_FILENAME), 'w') as f:
        f.write(config.to_json(indent=2))


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, CONFIG_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{workdir!r} holds no {CONFIG_FILENAME}: is it the workdir of a `gans train` run?')
    with open(path) as f:
        return validate(ml_collections.ConfigDict(json.load(f)))
