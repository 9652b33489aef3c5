"""InfoGAN: the mutual-information bounds in closed form, the networks, the game's losses, engine and CLI."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import cli
from gans import config as config_lib
from gans import data
from gans.games import build_game
from gans.games.base import GENERATOR_INPUTS
from gans.games.infogan import InfoGANGame, categorical_information_bound, gaussian_information_bound
from gans.losses import get_objective
from gans.models.conditional import InfoDiscriminator, InfoGenerator
from gans.models.mlp import MLPDiscriminator, MLPGenerator
from gans.engine.state import create_state
from gans.engine.experiment import make_init
from gans.engine.step import make_train_step

CATEGORIES, CONTINUOUS, LATENT = 5, 2, 3
INFOGAN = 'experiments/configs/infogan_digits.py'
DIGITS16 = data.dataset_spec('digits', image_size=16)


def test_categorical_bound_is_the_code_entropy_minus_the_cross_entropy():
    logits = np.array([[2.0, 0.5, -1.0, 0.0, 0.3], [0.1, 0.2, 0.3, 0.4, 0.5], [-2.0, 3.0, 0.0, 1.0, 1.0]])
    codes = np.array([0, 4, 2])
    log_q = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = math.log(CATEGORIES) + log_q[np.arange(3), codes].mean()
    np.testing.assert_allclose(categorical_information_bound(jnp.asarray(logits), jnp.asarray(codes)), expected,
                               rtol=1e-6)
    # Never above H(c) = log K; a uniform Q gives exactly 0; an exact Q reaches log K.
    random_logits = jax.random.normal(jax.random.key(0), (64, CATEGORIES)) * 3
    random_codes = jax.random.randint(jax.random.key(1), (64,), 0, CATEGORIES)
    assert float(categorical_information_bound(random_logits, random_codes)) < math.log(CATEGORIES)
    np.testing.assert_allclose(categorical_information_bound(jnp.zeros((7, CATEGORIES)), random_codes[:7]), 0.0,
                               atol=1e-6)
    exact = 50.0 * jax.nn.one_hot(random_codes, CATEGORIES)
    np.testing.assert_allclose(categorical_information_bound(exact, random_codes), math.log(CATEGORIES), atol=1e-5)


def test_gaussian_bound_is_the_uniform_entropy_plus_the_unit_gaussian_log_likelihood():
    codes = np.array([[0.5, -0.9], [0.1, 0.7], [-0.3, 0.0]])
    means = np.array([[0.4, -1.2], [0.0, 0.0], [1.0, 0.2]])
    # Per code j: log 2 + mean_n [-(c - mu)^2 / 2 - log(2 pi) / 2]; summed over j.
    expected = sum(math.log(2) + np.mean(-0.5 * (codes[:, j] - means[:, j]) ** 2 - 0.5 * math.log(2 * math.pi))
                   for j in range(2))
    np.testing.assert_allclose(gaussian_information_bound(jnp.asarray(means), jnp.asarray(codes)), expected, rtol=1e-6)
    # Exact means give the bound's maximum under a unit variance.
    np.testing.assert_allclose(gaussian_information_bound(jnp.asarray(codes), jnp.asarray(codes)),
                               2 * (math.log(2) - 0.5 * math.log(2 * math.pi)), rtol=1e-6)


def _setup(info_weight=0.8, continuous_weight=0.3):
    game = InfoGANGame(objective=get_objective('nonsaturating'), latent_dim=LATENT, num_categories=CATEGORIES,
                       num_continuous=CONTINUOUS, info_weight=info_weight, continuous_weight=continuous_weight)
    gen = InfoGenerator(MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False), CATEGORIES, CONTINUOUS)
    disc = InfoDiscriminator(MLPDiscriminator(input_shape=(2,), hidden=(8,)), CATEGORIES, CONTINUOUS, q_hidden=6)
    state = create_state(gen, disc, optax.adam(1e-2), optax.adam(1e-2), jax.random.key(0),
                         game.sample_latents(jax.random.key(1), 1), jnp.zeros((1, 2)))
    return game, state


def test_info_generator_is_the_base_on_z_one_hot_code_and_continuous_codes():
    game, state = _setup()
    latents = {'z': jnp.repeat(jax.random.normal(jax.random.key(2), (1, LATENT)), CATEGORIES, axis=0),
               'codes': jnp.arange(CATEGORIES, dtype=jnp.int32),
               'continuous_codes': jnp.full((CATEGORIES, CONTINUOUS), 0.5)}
    out = np.asarray(state.generate(latents))
    base_in = jnp.concatenate([latents['z'], jax.nn.one_hot(latents['codes'], CATEGORIES),
                               latents['continuous_codes']], -1)
    g = state.generator
    np.testing.assert_allclose(out, g.network.base.apply({'params': g.params['base']}, base_in),
                               rtol=1e-6, atol=1e-6)
    # Same z, different codes: different outputs.
    assert len(np.unique(np.round(out[:, 0], 5))) == CATEGORIES
    drawn = game.sample_latents(jax.random.key(3), 500)
    assert drawn['codes'].dtype == jnp.int32 and set(np.unique(drawn['codes'])) == set(range(CATEGORIES))
    assert drawn['continuous_codes'].shape == (500, CONTINUOUS)
    assert -1 <= float(drawn['continuous_codes'].min()) and float(drawn['continuous_codes'].max()) <= 1


def test_losses_subtract_lambda_times_the_bounds_from_both_players():
    info_weight, continuous_weight = 0.8, 0.3
    game, state = _setup(info_weight, continuous_weight)
    num = 8
    latents = game.sample_latents(jax.random.key(4), num)
    batch = {'x': jax.random.normal(jax.random.key(5), (num, 2)), GENERATOR_INPUTS: latents}
    g, disc = state.generator, state.discriminator
    fake = g.network.apply({'params': g.params}, **latents)
    d = lambda x: disc.network.apply({'params': disc.params}, x)
    (real_logits, _, _), (fake_logits, code_logits, means) = d(batch['x']), d(fake)
    log_q = np.asarray(jax.nn.log_softmax(code_logits), np.float64)
    l_cat = math.log(CATEGORIES) + log_q[np.arange(num), np.asarray(latents['codes'])].mean()
    c, mu = np.asarray(latents['continuous_codes'], np.float64), np.asarray(means, np.float64)
    l_cont = CONTINUOUS * (math.log(2) - 0.5 * math.log(2 * math.pi)) - 0.5 * ((c - mu) ** 2).mean(0).sum()
    information = info_weight * (l_cat + continuous_weight * l_cont)
    log_sigmoid = lambda x: -np.logaddexp(0.0, -np.asarray(x, np.float64))
    d_loss, (metrics, _, _) = jax.jit(game.d_loss)(state.discriminator.params, state, batch, jax.random.key(6))
    np.testing.assert_allclose(d_loss, -log_sigmoid(real_logits).mean() - log_sigmoid(-fake_logits).mean()
                               - information, rtol=1e-5)
    np.testing.assert_allclose(metrics['info_categorical'], l_cat, rtol=1e-5)
    g_loss, _ = jax.jit(game.g_loss)(state.generator.params, state, batch, jax.random.key(7))
    np.testing.assert_allclose(g_loss, -log_sigmoid(fake_logits).mean() - information, rtol=1e-5)
    # Q's parameters are D's, and D's loss moves them.
    grads = jax.jit(jax.grad(lambda p: game.d_loss(p, state, batch, jax.random.key(6))[0]))(state.discriminator.params)
    assert float(jnp.abs(grads['q_categorical']['kernel']).max()) > 0


def _mlp_config(overrides=()):
    return config_lib.load_config(f'{INFOGAN}:tiny', ['model=mlp', 'generator.hidden=(16,)',
                                                      'discriminator.hidden=(16,)', *overrides])


def test_the_engine_step_trains_infogan_and_its_q_head():
    config = _mlp_config()
    init, game = make_init(config, DIGITS16)
    state = jax.jit(init)(jax.random.key(0))
    assert set(state.discriminator.params) == {'base', 'q_hidden', 'q_categorical', 'q_continuous'}
    batch = {'x': jax.random.uniform(jax.random.key(1), (16, 16, 16, 1), minval=-1, maxval=1)}  # no labels
    new, metrics = jax.jit(make_train_step(game))(state, batch, jax.random.key(2))
    assert {'info_categorical', 'info_continuous', 'q_code_accuracy'} <= set(metrics)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert float(jnp.abs(new.discriminator.params['q_categorical']['kernel']
                         - state.discriminator.params['q_categorical']['kernel']).max()) > 0


@pytest.mark.parametrize('overrides, message', [
    (['infogan.categorical=1'], 'infogan.categorical must be an integer >= 2'),
    (['infogan.continuous=-1'], 'infogan.continuous must be a non-negative integer'),
    (['game=vaegan_typo'], 'unknown game'),
])
def test_bad_infogan_configs_say_what_is_wrong(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_game(config_lib.load_config(f'{INFOGAN}:tiny', overrides), DIGITS16)


def test_without_continuous_codes_the_generator_takes_only_z_and_the_code():
    setup = build_game(_mlp_config(['infogan.continuous=0']), DIGITS16)
    latents = setup.game.sample_latents(jax.random.key(0), 3)
    assert sorted(latents) == ['codes', 'z']
    variables = setup.generator.init(jax.random.key(1), **latents)
    assert setup.generator.apply(variables, **latents).shape == (3, 16, 16, 1)


def test_cli_trains_infogan_and_samples_codes_deterministically(tmp_path, data_dir):
    workdir = str(tmp_path / 'infogan')
    cli.main(['gans', 'train', f'--config={INFOGAN}:tiny', f'--workdir={workdir}', '--config.num_devices=1'])
    paths = [str(tmp_path / f'{name}.npz') for name in 'ab']
    for path in paths:
        cli.main(['gans', 'sample', f'--workdir={workdir}', '--num=12', '--seed=3', f'--out={path}'])
    a, b = np.load(paths[0]), np.load(paths[1])
    assert sorted(a.files) == ['codes', 'continuous_codes', 'images']
    assert a['images'].shape == (12, 16, 16, 1) and a['images'].dtype == np.uint8
    assert a['codes'].shape == (12,) and a['codes'].dtype == np.int32 and a['codes'].max() < 10
    assert a['continuous_codes'].shape == (12, 2) and a['continuous_codes'].dtype == np.float32
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])
