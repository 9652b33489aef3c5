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


def base_config() -> ml_collections.ConfigDict:
    """The engine's fields with their defaults; a config file starts here and sets its own.

    The required fields are left as placeholders, so `validate` catches a config that forgets one.
    """
    placeholder = ml_collections.config_dict.placeholder
    config = ml_collections.ConfigDict()
    config.model = placeholder(str)
    config.dataset = placeholder(str)
    config.loss = 'nonsaturating'
    config.num_steps = placeholder(int)
    config.batch_size = 64
    config.seed = 0
    config.checkpoint_every = 1000
    config.sample_every = 500
    config.log_every = 50
    config.eval_every = 0  # 0: no evaluation during training
    config.eval_num_samples = 2000

    config.latent_dim = 64
    config.image_size = placeholder(int)  # resize square images to this size; None keeps the dataset's
    config.grid_size = 8  # sample grids show grid_size**2 images (or points, for 2-D data)
    config.data_dir = placeholder(str)  # None: $GANS_DATA_DIR, else TFDS's default
    config.num_devices = 0  # 0: every visible device
    # XLA:CPU's convolution library for the train step: 'eigen' (faster on CPU) | 'xla_default'.
    config.cpu_convolutions = 'eigen'
    # Networks' computation dtype: 'float32' | 'bfloat16'; parameters and optimizer states stay float32.
    config.compute_dtype = 'float32'
    # Network sizes: dcgan's channel widths; mlp's hidden layers (g_hidden / d_hidden: per player).
    config.g_width = 64
    config.d_width = 64
    config.hidden = (256, 256)
    config.g_hidden = placeholder(tuple)  # None: hidden
    config.d_hidden = placeholder(tuple)  # None: hidden
    config.d_batch_norm = True  # dcgan D: batch norm in the trunk; False for a per-example gradient penalty
    config.g_batch_norm = placeholder(bool)  # batch norm in G's hidden layers; None: the model's default (dcgan yes, mlp no)
    config.d_maxout = 1  # mlp D: maxout pieces per hidden unit; 1: LeakyReLU units

    # The game and its mode-collapse remedies (gans.games; README's table lists the values).
    config.game = 'gan'  # 'gan' | 'began' | 'madgan'
    config.unroll_steps = 0  # K unrolled D updates in G's loss; 0: plain GAN
    config.unroll_optimizer = 'd_optimizer'  # the unroll's update rule: 'd_optimizer' (D's Adam) | 'sgd'
    config.replay_size = 0  # past fakes kept for experience replay; 0: off
    config.replay_fraction = 0.5  # of D's fake batch drawn from the replay buffer
    config.d_batch_features = 'none'  # mlp/dcgan D: 'none' | 'minibatch' (discrimination) | 'stddev'
    config.minibatch_kernels = 32
    config.minibatch_kernel_dim = 8
    config.pack = 1  # PacGAN: D judges this many examples at once (mlp/dcgan D)
    config.began_gamma = 0.5  # BEGAN diversity ratio
    config.began_lambda_k = 1e-3  # BEGAN k_t learning rate
    config.began_k_init = 0.0
    config.began_code_dim = 32  # BEGAN autoencoder bottleneck
    config.began_autoencoder = 'mlp'  # 'mlp' | 'conv' (images)
    config.madgan_generators = 4  # MAD-GAN: k generators
    config.madgan_shared_layers = -1  # hidden layers the generators share; -1: all of them
    config.madgan_diversity_weight = 0.0  # MAD-GAN: weight of the generators' feature-similarity loss
    # Conditional games (gans.games.conditional: 'cgan', 'acgan') and InfoGAN ('infogan').
    config.num_classes = placeholder(int)  # labels of the dataset; None: conditional games refuse to run
    config.conditional_discriminator = 'projection'  # cgan's D(x, y): 'projection' | 'concat' (label channels)
    config.class_loss_weight = 1.0  # acgan: weight of the class cross-entropy in both players' losses
    config.info_categorical = 10  # infogan: categories of the categorical code
    config.info_continuous = 2  # infogan: continuous codes ~ U(-1, 1); 0: none
    config.info_weight = 1.0  # infogan: lambda, weight of the mutual-information bound
    config.info_continuous_weight = 0.1  # infogan: continuous codes' bound relative to the categorical one
    # The VAE family (gans.games.vae: 'vae', 'cvae', 'vaegan'); `model` picks 'dcgan' (conv) or 'mlp'.
    config.vae_beta = 1.0  # weight of the KL; 1: the ELBO, > 1: beta-VAE
    config.vae_beta_warmup_steps = 0  # beta rises linearly from 0 over these steps; 0: constant
    config.vae_decoder = 'bernoulli'  # p(x|z): 'bernoulli' (on grey levels (x+1)/2) | 'gaussian'
    config.vae_gaussian_scale = placeholder(float)  # gaussian decoder's std in [-1, 1] units; None: learned
    config.vae_width = 32  # channels of the conv encoder's first / decoder's last hidden map
    config.vae_gamma = 1.0  # vaegan: weight of the feature reconstruction in the decoder's loss

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 2e-4
    config.optim.d_lr = 2e-4
    config.optim.b1 = 0.5
    config.optim.b2 = 0.999
    # Learning-rate schedule over the run, for both players: 'constant' | 'cosine' | 'linear'
    # (decay from the peak rates above to lr_final_fraction of them at num_steps).
    config.optim.lr_schedule = 'constant'
    config.optim.lr_final_fraction = 0.01
    config.optim.d_steps = 1
    config.optim.simultaneous = False
    config.optim.ema_decay = placeholder(float)  # None: no EMA of the generator
    config.optim.weight_clip = placeholder(float)  # None: the objective's default (0.01 for wgan)
    config.optim.gradient_penalty_weight = placeholder(float)  # None: the objective's default
    config.optim.r1_weight = 0.0
    # Each update averages gradients over this many slices of its batch (peak memory of one slice).
    config.optim.micro_batches = 1
    return config


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
    config = with_defaults(module.get_config(variant) if variant else module.get_config())
    apply_overrides(config, overrides)
    return validate(config)


def with_defaults(config: ml_collections.ConfigDict | dict) -> ml_collections.ConfigDict:
    """`config` over `base_config()`: every engine field present, so code reads `config.name`
    and configs saved by older versions of the engine gain the fields added since."""
    merged = base_config()
    merged.update(config.to_dict() if isinstance(config, ml_collections.ConfigDict) else config)
    return merged


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
        return validate(with_defaults(json.load(f)))


def describe_changes(before: ml_collections.ConfigDict, after: ml_collections.ConfigDict) -> str:
    """`field: before -> after` for every (dotted) field where the two configs differ."""
    old, new = _flatten(before.to_dict()), _flatten(after.to_dict())
    names = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    return ', '.join(f'{name}: {old.get(name)!r} -> {new.get(name)!r}' for name in names)


def _flatten(tree: dict, prefix: str = '') -> dict:
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f'{prefix}{name}.'))
        else:
            flat[f'{prefix}{name}'] = list(value) if isinstance(value, tuple) else value
    return flat
