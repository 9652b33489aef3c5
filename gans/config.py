"""Run configs: engine fields at the top, one section per component, loaded from code.

A config is a Python file with `get_config(variant: str = '')` returning an
`ml_collections.ConfigDict`; `path:variant` selects a variant (every shipped config has `tiny`,
made by `tiny()`). Overrides are `key=value` strings with dotted keys, what `--config.key=value`
means on the command line.

Layout (`base_config(game, model)` builds it with every default):
- engine fields at the top: `game`, `model`, `dataset`, `num_steps`, `batch_size`, `seed`, the
  logging/sampling/checkpoint intervals, data and device fields, and `optim` (each player's
  optimizer and the step's options);
- `config.<game>`: the fields of the game `config.game` names, declared beside the game
  (`gans.games.GAMES[name].default_config`), e.g. `config.gan.loss`, `config.began.gamma`;
- `config.generator`, `config.discriminator`: the networks of the family `config.model` names,
  declared beside the family (`gans.models.MODELS[name]`), e.g. `config.generator.width`.

Changing `game` or `model` by an override replaces that component's sections with the new one's
defaults before the other overrides apply; a new game keeps the values of the fields its section
shares by name with the old one's (`latent_dim`, `loss`). A field of the old flat layout (`began_gamma`,
`g_width`, `loss`, ...) gives an error naming its new place.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

# Every config must define these top-level fields; the CLI and the engine rely on them.
REQUIRED_FIELDS = ('game', 'model', 'dataset', 'num_steps', 'batch_size', 'seed', 'checkpoint_every',
                   'sample_every')
# Fields that choose a component, and with it the sections of the config.
SELECTORS = ('game', 'model')
NETWORK_SECTIONS = ('generator', 'discriminator')
CONFIG_FILENAME = 'config.json'

# Flat fields of configs before they were nested, and where each one lives now ('{game}': the
# section of config.game).
MOVED_FIELDS = {
    'loss': '{game}.loss', 'latent_dim': '{game}.latent_dim', 'num_classes': '{game}.num_classes',
    'g_width': 'generator.width', 'd_width': 'discriminator.width',
    'hidden': 'generator.hidden and discriminator.hidden', 'g_hidden': 'generator.hidden',
    'd_hidden': 'discriminator.hidden', 'g_batch_norm': 'generator.batch_norm',
    'd_batch_norm': 'discriminator.batch_norm', 'd_maxout': 'discriminator.maxout',
    'd_batch_features': 'discriminator.batch_features', 'minibatch_kernels': 'discriminator.minibatch_kernels',
    'minibatch_kernel_dim': 'discriminator.minibatch_kernel_dim', 'pack': 'discriminator.pack',
    'unroll_steps': 'gan.unroll_steps', 'unroll_optimizer': 'gan.unroll_optimizer',
    'replay_size': 'gan.replay_size', 'replay_fraction': 'gan.replay_fraction',
    'began_gamma': 'began.gamma', 'began_lambda_k': 'began.lambda_k', 'began_k_init': 'began.k_init',
    'began_code_dim': 'began.code_dim', 'began_autoencoder': 'began.autoencoder',
    'madgan_generators': 'madgan.generators', 'madgan_shared_layers': 'madgan.shared_layers',
    'madgan_diversity_weight': 'madgan.diversity_weight',
    'conditional_discriminator': 'cgan.discriminator', 'class_loss_weight': 'acgan.class_loss_weight',
    'info_categorical': 'infogan.categorical', 'info_continuous': 'infogan.continuous',
    'info_weight': 'infogan.info_weight', 'info_continuous_weight': 'infogan.continuous_weight',
    'vae_beta': '{game}.beta', 'vae_beta_warmup_steps': '{game}.beta_warmup_steps',
    'vae_decoder': '{game}.decoder', 'vae_gaussian_scale': '{game}.gaussian_scale', 'vae_width': '{game}.width',
    'vae_gamma': 'vaegan.gamma',
    'optim.gradient_penalty_weight': '{game}.gradient_penalty_weight', 'optim.r1_weight': '{game}.r1_weight',
}

# What the `tiny` variant sets at the top, for every config (sections: each component's own).
TINY_ENGINE = {'batch_size': 16, 'num_steps': 4, 'checkpoint_every': 2, 'sample_every': 2, 'log_every': 1,
               'grid_size': 4}
TINY_IMAGE_SIZE = 16


def engine_config() -> ml_collections.ConfigDict:
    """The engine's fields with their defaults, without any component's section.

    The required fields are left as placeholders, so `validate` catches a config that forgets one.
    """
    placeholder = ml_collections.config_dict.placeholder
    config = ml_collections.ConfigDict()
    config.game = 'gan'  # gans.games.GAMES
    config.model = placeholder(str)  # gans.models.MODELS
    config.dataset = placeholder(str)
    config.num_steps = placeholder(int)
    config.batch_size = 64
    config.seed = 0
    config.checkpoint_every = 1000
    config.max_to_keep = 3  # complete checkpoints kept; older ones are deleted after each save
    config.sample_every = 500
    config.log_every = 50
    config.eval_every = 0  # 0: no evaluation during training
    config.eval_num_samples = 2000

    config.image_size = placeholder(int)  # resize square images to this size; None keeps the dataset's
    config.grid_size = 8  # sample grids show grid_size**2 images (or points, for 2-D data)
    config.data_dir = placeholder(str)  # None: $GANS_DATA_DIR, else TFDS's default
    config.num_devices = 0  # 0: every visible device
    # XLA:CPU's convolution library for the train step: 'eigen' (faster on CPU) | 'xla_default'.
    config.cpu_convolutions = 'eigen'
    # The networks' convolution layers: 'auto' (canonical on CPU, xla elsewhere) | 'canonical' | 'xla'.
    config.conv_layers = 'auto'
    # Networks' computation dtype: 'float32' | 'bfloat16'; parameters and optimizer states stay float32.
    config.compute_dtype = 'float32'

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 2e-4
    config.optim.d_lr = 2e-4
    config.optim.b1 = 0.5
    config.optim.b2 = 0.999
    # Learning-rate schedule over the run, for both players: 'constant' | 'cosine' | 'linear' |
    # 'constant_then_linear' (decay from the peak rates above to lr_final_fraction of them at num_steps).
    config.optim.lr_schedule = 'constant'
    config.optim.lr_final_fraction = 0.01
    config.optim.d_steps = 1
    config.optim.simultaneous = False
    config.optim.ema_decay = placeholder(float)  # None: no EMA of the generator
    config.optim.weight_clip = placeholder(float)  # None: the game's default (0.01 for gan's wgan loss)
    # Each update averages gradients over this many slices of its batch (peak memory of one slice).
    config.optim.micro_batches = 1
    return config


def _game_defaults(name: str) -> ml_collections.ConfigDict:
    from gans import games  # pylint: disable=g-import-not-at-top
    return games.entry(name).default_config()


def _model_defaults(name: str) -> dict[str, ml_collections.ConfigDict]:
    from gans import models  # pylint: disable=g-import-not-at-top
    family = models.family(name)
    return {'generator': family.generator(), 'discriminator': family.discriminator()}


def base_config(game: str = 'gan', model: str | None = None) -> ml_collections.ConfigDict:
    """Every field a run of `game` with networks `model` reads, at its default: where a config
    file starts."""
    config = engine_config()
    config.game = game
    config[game] = _game_defaults(game)
    if model is not None:
        config.model = model
        config.update(_model_defaults(model))
    return config


def _moved_error(name: str, game: str | None) -> ValueError:
    where = MOVED_FIELDS[name].format(game=game or '<game>')
    return ValueError(f'config field {name!r} moved to {where!r}: configs are nested per component '
                      f'(README, "Configs"); e.g. --config.{where.split(" ")[0]}=...')


def _check_keys(config: Mapping[str, Any], defaults: ml_collections.ConfigDict, where: str,
                game: str | None) -> None:
    """Every key of `config` must be a field of `defaults` (recursively); moved flat names say where."""
    for name, value in config.items():
        dotted = f'{where}{name}'
        if dotted in MOVED_FIELDS:
            raise _moved_error(dotted, game)
        if name not in defaults:
            from gans import games, models  # pylint: disable=g-import-not-at-top
            if not where and name in games.GAMES:
                raise ValueError(f'the config has a section {name!r} but config.game is {game!r}; its fields '
                                 f'are not read (set --config.game={name}, or drop the section)')
            fields = sorted(defaults.keys())
            raise ValueError(f'unknown config field {dotted!r}; fields {"in " + where[:-1] if where else "here"}: '
                             f'{fields}' + (f' (model {config.get("model")!r})' if where[:-1] in NETWORK_SECTIONS
                                            else ''))
        if isinstance(value, Mapping) and isinstance(defaults[name], ml_collections.ConfigDict):
            _check_keys(value, defaults[name], f'{dotted}.', game)


def with_defaults(config: ml_collections.ConfigDict | Mapping[str, Any]) -> ml_collections.ConfigDict:
    """`config` over `base_config(config.game, config.model)`: every field present, so code reads
    `config.name`, and configs saved by older versions of the engine gain the fields added since.

    Raises ValueError for a field no component declares (naming where an old flat field moved).
    """
    given = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
    game, model = given.get('game') or 'gan', given.get('model')
    defaults = base_config(game, model)
    _check_keys(given, defaults, '', game)
    defaults.update(given)
    return defaults


def _select(config: ml_collections.ConfigDict, name: str, value: Any) -> None:
    """Sets a selector field; a new game or model brings its own sections at their defaults. A new
    game keeps the values of the fields its section shares by name with the old game's (the latent
    size, the objective), so `--config.game=` on a tiny config stays tiny; a new network family
    starts from its own defaults (a dcgan's batch-norm setting means nothing to an mlp)."""
    if config[name] == value:
        return
    if name == 'game':
        old = config[config.game].to_dict() if config.game in config else {}
        if config.game in config:
            del config[config.game]
        section = _game_defaults(value)
        for field, field_value in old.items():
            if field in section and not isinstance(section[field], ml_collections.ConfigDict):
                try:
                    section[field] = field_value
                except TypeError:  # the same name with another type: the new default stands
                    pass
        config.game = value
        config[value] = section
        return
    for section_name in NETWORK_SECTIONS:
        if section_name in config:
            del config[section_name]
    config.model = value
    config.update(_model_defaults(value))


def apply_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str]) -> None:
    """Applies `a.b=value` strings in place; values are parsed as Python literals when they can be.

    Selector fields (`game`, `model`) apply first, so that `--config.game=began
    --config.began.gamma=1` works in any order.
    """
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition('=')
        if not sep:
            raise ValueError(f'override {item!r} is not of the form key=value')
        parsed.append((key.removeprefix('config.'), raw))
    for key, raw in parsed:
        if key in SELECTORS:
            _select(config, key, _parse_value(raw, config[key] or ''))
    for key, raw in parsed:
        if key in SELECTORS:
            continue
        if key in MOVED_FIELDS:
            raise _moved_error(key, config.game)
        *parents, leaf = key.split('.')
        node = config
        for name in parents:
            if name not in node or not isinstance(node[name], ml_collections.ConfigDict):
                raise ValueError(f'unknown config field {key!r}; sections here: '
                                 f'{sorted(k for k, v in node.items() if isinstance(v, ml_collections.ConfigDict))}')
            node = node[name]
        if leaf not in node:
            raise ValueError(f'unknown config field {key!r}; fields here: {sorted(node.keys())}')
        try:
            node[leaf] = _parse_value(raw, node[leaf])
        except TypeError as error:
            raise ValueError(f'bad value {raw!r} for config field {key!r}: {error}') from None


def _parse_value(raw: str, current):
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # bare strings like `loss=hinge`
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


def tiny(config: ml_collections.ConfigDict, **fields: Any) -> ml_collections.ConfigDict:
    """The `tiny` variant of `config` (seconds, for tests): the engine's small batch, steps and
    intervals, 16-px images, each component's own small sizes, then `fields` (nested dicts for
    sections, e.g. `generator={'hidden': (16, 16)}`)."""
    from gans import games, models  # pylint: disable=g-import-not-at-top
    config = with_defaults(config)
    config.update(TINY_ENGINE)
    if config.image_size is not None:
        config.image_size = TINY_IMAGE_SIZE
    config.update({config.game: games.entry(config.game).tiny})
    if config.model is not None:
        config.update(models.family(config.model).tiny)
    config.update(fields)
    return config


def select_variant(config: ml_collections.ConfigDict, variant: str, name: str,
                   **tiny_fields: Any) -> ml_collections.ConfigDict:
    """`config` for `variant` '' (itself) or 'tiny' (`tiny(config, **tiny_fields)`); `name` is the
    config's, for the error on any other variant."""
    if not variant:
        return config
    if variant == 'tiny':
        return tiny(config, **tiny_fields)
    raise ValueError(f'unknown variant {variant!r} of {name}; known: tiny')


# Files of the shipped configs' folder that are not configs (shared helpers).
NOT_CONFIGS = ('common', '__init__')


def shipped_configs_dir() -> str:
    """The shipped configs: `gans/configs` in an installed wheel, `experiments/configs` in a checkout."""
    package = os.path.dirname(os.path.abspath(__file__))
    for folder in (os.path.join(package, 'configs'), os.path.join(os.path.dirname(package), 'experiments', 'configs')):
        if os.path.isdir(folder):
            return folder
    raise FileNotFoundError(f'the shipped configs are missing from this install ({package})')


def shipped_config_names() -> list[str]:
    return sorted(os.path.splitext(f)[0] for f in os.listdir(shipped_configs_dir())
                  if f.endswith('.py') and os.path.splitext(f)[0] not in NOT_CONFIGS)


def config_file(name_or_path: str) -> str:
    """A config's file: `name_or_path` itself when it is a file, else the shipped config of that name."""
    if os.path.isfile(name_or_path):
        return name_or_path
    name = name_or_path[:-3] if name_or_path.endswith('.py') else name_or_path
    if os.sep not in name and name in shipped_config_names():
        return os.path.join(shipped_configs_dir(), f'{name}.py')
    raise FileNotFoundError(f'no config {name_or_path!r}: not a file, and not a shipped config name; the shipped '
                            f'ones: {", ".join(shipped_config_names())} (see `gans list`)')


def load_config(path: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """Loads `path[:variant]` (a config file, or a shipped config's name such as `dcgan_digits`),
    applies `key=value` overrides and validates the result."""
    name, _, variant = path.partition(':')
    file_path = config_file(name)
    with _sibling_imports(os.path.dirname(os.path.abspath(file_path))):
        spec = importlib.util.spec_from_file_location('_gans_config', file_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, 'get_config'):
            raise ValueError(f'{file_path} defines no get_config()')
        config = module.get_config(variant) if variant else module.get_config()
    config = with_defaults(config)
    apply_overrides(config, overrides)
    return validate(config)


@contextlib.contextmanager
def _sibling_imports(folder: str):
    """A config's own folder on the import path while it runs, so it can import shared bases
    (`import common`); the modules it imported from there are forgotten afterwards, so configs of
    another folder get their own."""
    before = set(sys.modules)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        sys.path.remove(folder)
        for name in set(sys.modules) - before:
            path = getattr(sys.modules[name], '__file__', None) or ''
            if os.path.dirname(os.path.abspath(path)) == folder:
                del sys.modules[name]


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Checks the fields every run needs; raises ValueError naming what is wrong."""
    missing = [f for f in REQUIRED_FIELDS if config.get(f) is None]
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
        saved = json.load(f)
    flat = sorted(name for name in saved if name in MOVED_FIELDS)
    if flat:
        raise ValueError(f'{path} was written by an older version of gans, whose configs were flat (fields '
                         f'{flat[:4]}) and whose checkpoints stored g_params/d_params; this version nests '
                         f'configs per component and stores each player as one struct, and cannot resume or '
                         f'read that run. Nothing was changed: train into a new workdir, or read it with the '
                         f'version that wrote it.')
    return validate(with_defaults(saved))


def changes(before: ml_collections.ConfigDict, after: ml_collections.ConfigDict) -> dict[str, tuple[Any, Any]]:
    """{dotted field: (before, after)} for every field where the two configs differ, sorted."""
    old, new = flatten(before.to_dict()), flatten(after.to_dict())
    return {name: (old.get(name), new.get(name)) for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name)}


def flatten(tree: dict, prefix: str = '') -> dict:
    """A nested dict as {dotted name: value}, tuples as lists (as JSON stores them)."""
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{name}.'))
        else:
            flat[f'{prefix}{name}'] = list(value) if isinstance(value, tuple) else value
    return flat
