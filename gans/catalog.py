"""What ships: configs, games, models, objectives, datasets and feature networks (`gans list`)."""
from __future__ import annotations

import ast
import os

from gans import config as config_lib


def configs() -> dict[str, str]:
    """{name: first line of its docstring} of the shipped configs (`--config <name>`)."""
    found = {}
    folder = config_lib.shipped_configs_dir()
    for file in sorted(os.listdir(folder)):
        name, ext = os.path.splitext(file)
        if ext != '.py' or name in config_lib.NOT_CONFIGS:
            continue
        with open(os.path.join(folder, file)) as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ''
        found[name] = doc.strip().splitlines()[0] if doc.strip() else ''
    return found


def sections() -> dict[str, dict[str, str]]:
    """Every registry the configs choose from, {section: {name: one line}}."""
    from gans import data, games, losses, models
    from gans.metrics import feature_networks
    objectives = {name: ('' if o.weight_clip is None else f'weight clip {o.weight_clip}') +
                  (f'gradient penalty {o.gradient_penalty_weight}' if o.gradient_penalty_weight else '')
                  for name, o in losses.OBJECTIVES.items()}
    return {
        'configs (--config NAME[:tiny])': configs(),
        'games (config.game)': {name: entry.summary for name, entry in games.GAMES.items()},
        'models (config.model)': {name: family.summary for name, family in models.MODELS.items()},
        'objectives (config.<game>.loss)': objectives,
        'datasets shipped or built here (config.dataset; any prepared TFDS image dataset too)':
            {name: '' for name in data.LOCAL_DATASETS},
        'feature networks (gans evaluate --feature_network)': {name: '' for name in feature_networks.FEATURE_NETWORKS},
    }


def describe() -> str:
    lines = []
    for title, entries in sections().items():
        lines.append(f'{title}:')
        width = max(map(len, entries), default=0)
        lines += [f'  {name:<{width}}  {text}'.rstrip() for name, text in entries.items()]
        lines.append('')
    return '\n'.join(lines).rstrip()
