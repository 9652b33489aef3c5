"""Many seeds of one config as a single jitted program: `jax.vmap` (or `lax.map`) over seeds, `lax.scan` over steps.

    from gans.engine.seeds import train_seeds, generate_seeds
    cfg = gans.config.load_config('experiments/configs/mlp_ring8.py', ['gan.loss=lsgan'])
    states, metrics = train_seeds(cfg, seeds=range(10), num_steps=2000)
    points = generate_seeds(states, cfg, num=2500)       # [10, 2500, 2]

Seed s starts from exactly the state `gans.engine.experiment.build_experiment` builds for
`config.seed = s` and uses its training key, so each seed's lane is the run `gans train --config.seed=s` would
take with the same data. Data: the whole loop runs on the accelerator, so batches are drawn
inside the program by `sample_batch(key) -> batch`. For the 2-D mixtures the default draws
fresh points from the mixture itself (its exact distribution, not the 100k-point TFDS split);
for any other dataset (digits) it draws examples of the train split, held in device memory,
uniformly with replacement.
`data='per_seed'` gives every seed its own stream (keyed by the seed); `data='shared'` feeds
every seed the same batches (keyed by `config.seed`), which isolates initialisation and
training noise from data noise. Either way batch i of a stream comes from fold_in(key, i).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from gans import data as data_lib
from gans import games
from gans.data import MIXTURES
from gans.engine import compile_options
from gans.engine.experiment import make_init
from gans.engine.state import GANState
from gans.engine.step import make_train_step

Batch = dict[str, jax.Array]
DATA_MODES = ('per_seed', 'shared')
_DATA_PURPOSE = 3  # folded into a seed's key; 0, 1, 2 are init, train and sample keys


def mixture_sampler(name: str, num: int) -> Callable[[jax.Array], Batch]:
    """sample(key) -> {'x': [num, 2]}: points of mixture `name`, modes drawn uniformly."""
    if name not in MIXTURES:
        raise ValueError(f'in-program data is drawn for the mixtures {sorted(MIXTURES)}; got {name!r} '
                         '(pass sample_batch for other data)')
    spec = MIXTURES[name]
    centers = jnp.asarray(spec.centers)

    def sample(key: jax.Array) -> Batch:
        mode_key, noise_key = jax.random.split(key)
        modes = jax.random.randint(mode_key, (num,), 0, spec.num_modes)
        return {'x': centers[modes] + spec.std * jax.random.normal(noise_key, (num, 2))}

    return sample


def array_sampler(x: Any, num: int) -> Callable[[jax.Array], Batch]:
    """sample(key) -> {'x': [num, ...]}: rows of `x` drawn uniformly with replacement."""
    x = jnp.asarray(x)

    def sample(key: jax.Array) -> Batch:
        return {'x': x[jax.random.randint(key, (num,), 0, x.shape[0])]}

    return sample


def default_sampler(config: ml_collections.ConfigDict, num: int) -> Callable[[jax.Array], Batch]:
    """The mixture `config.dataset` itself, or else its train split's examples."""
    if config.dataset in MIXTURES:
        return mixture_sampler(config.dataset, num)
    examples = data_lib.split_arrays(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
    return array_sampler(examples['x'], num)


def data_key(config: ml_collections.ConfigDict, seed: int, data: str = 'per_seed') -> jax.Array:
    """The key of the batch stream that seed `seed` trains on."""
    if data not in DATA_MODES:
        raise ValueError(f'unknown data mode {data!r}; valid: {list(DATA_MODES)}')
    return jax.random.fold_in(jax.random.key(seed if data == 'per_seed' else config.seed), _DATA_PURPOSE)


# How one program runs the seeds: side by side (`jax.vmap`) or one after another (`lax.map`).
# Vmapped, a convolution with per-seed kernels becomes a grouped convolution, which XLA:CPU runs
# far slower than the seeds' plain convolutions one at a time; small MLPs gain from the vmap.
SEED_MODES = ('auto', 'vmap', 'map')


def seed_mode(config: ml_collections.ConfigDict, mode: str = 'auto') -> str:
    """'vmap' or 'map'; 'auto': map for image datasets (convolutional networks), vmap otherwise."""
    if mode not in SEED_MODES:
        raise ValueError(f'unknown seed mode {mode!r}; valid: {list(SEED_MODES)}')
    if mode != 'auto':
        return mode
    return 'map' if data_lib.config_spec(config).kind == 'image' else 'vmap'


def train_seeds(config: ml_collections.ConfigDict, seeds: Sequence[int], *, num_steps: int | None = None,
                data: str = 'per_seed', sample_batch: Callable[[jax.Array], Batch] | None = None,
                seeds_in: str = 'auto') -> tuple[GANState, dict[str, jax.Array]]:
    """Trains every seed for `num_steps` (default `config.num_steps`) steps in one program.

    Returns the final states stacked on a leading seed axis and the metrics of every step,
    each [num_seeds, num_steps]. `sample_batch` defaults to `default_sampler(config, batch)`.
    `seeds_in` ('auto' | 'vmap' | 'map', see `seed_mode`) only changes the speed.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError('train_seeds needs at least one seed')
    mode = seed_mode(config, seeds_in)
    if num_steps is not None and num_steps != config.num_steps:
        # Learning-rate schedules span config.num_steps: make that the run's length.
        config = config.copy_and_resolve_references()
        config.num_steps = num_steps
    num_steps = config.num_steps
    examples = config.batch_size * config.optim.d_steps
    sample_batch = sample_batch or default_sampler(config, examples)
    init, game = make_init(config, data_lib.config_spec(config))
    step = make_train_step(game, d_steps=config.optim.d_steps, simultaneous=config.optim.simultaneous)

    def run(seed_key: jax.Array, stream_key: jax.Array) -> tuple[GANState, dict[str, jax.Array]]:
        # The same keys as build_experiment / train_key for config.seed = seed.
        state = init(jax.random.fold_in(seed_key, 0))
        train_key = jax.random.fold_in(seed_key, 1)

        def body(state, i):
            return step(state, sample_batch(jax.random.fold_in(stream_key, i)), train_key)

        return jax.lax.scan(body, state, jnp.arange(num_steps))

    seed_keys = jnp.stack([jax.random.key(s) for s in seeds])
    stream_keys = jnp.stack([data_key(config, s, data) for s in seeds])
    if mode == 'vmap':
        # XLA's default convolutions, not config.cpu_convolutions: Eigen runs grouped ones slower
        # (tests/test_ablation.py's vmapped programs: 17-22%).
        return jax.jit(jax.vmap(run))(seed_keys, stream_keys)
    options = compile_options.compiler_options(config.cpu_convolutions, jax.devices()[0].platform)
    return jax.jit(lambda keys: jax.lax.map(lambda k: run(*k), keys), compiler_options=options)(
        (seed_keys, stream_keys))


def seed_state(states: GANState, index: int) -> GANState:
    """One seed's state out of the stacked states."""
    return jax.tree.map(lambda x: x[index], states)


def generate_seeds(states: GANState, config: ml_collections.ConfigDict, num: int, *,
                   seed: int = 0, use_ema: bool = True, seeds_in: str = 'auto') -> Any:
    """`num` samples of every seed's generator, [num_seeds, num, ...], from shared inputs: the
    game's preview inputs (its prior: z, and labels or codes for the games that take them)."""
    game = games.build_game(config, data_lib.config_spec(config)).game
    key = jax.random.key(seed)
    inputs = game.preview_inputs(key, num, None)

    def generate(state: GANState) -> Any:
        # The key feeds a generator's rng streams, where it has any.
        return state.generate(inputs, use_ema=use_ema, key=jax.random.fold_in(key, 1))

    if seed_mode(config, seeds_in) == 'vmap':
        return jax.jit(jax.vmap(generate))(states)
    return jax.jit(lambda s: jax.lax.map(generate, s))(states)
