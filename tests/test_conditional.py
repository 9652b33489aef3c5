"""Class-conditional networks and games (cgan, acgan): closed forms, labels that matter, the engine, the CLI."""
import functools

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
from gans.games.conditional import AuxiliaryClassifierGame, ConditionalGame
from gans.losses import get_objective
from gans.models.conditional import (AuxiliaryClassifierDiscriminator, ConditionalDiscriminator,
                                     ConditionalGenerator, widen_input)
from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models.mlp import MLPDiscriminator, MLPGenerator
from gans.engine.state import create_state
from gans.engine.experiment import make_init
from gans.engine.step import make_train_step

K, LATENT = 4, 3
CGAN, ACGAN = 'experiments/configs/cgan_digits.py', 'experiments/configs/acgan_digits.py'
DIGITS16 = data.dataset_spec('digits', image_size=16)


def _jit(fn, **static):
    """fn jitted with keyword arguments fixed: one compilation instead of one per eager op."""
    return jax.jit(functools.partial(fn, **static))


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -np.asarray(x, np.float64))


def _cross_entropy(logits, labels):
    logits = np.asarray(logits, np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def test_conditional_generator_is_the_base_on_z_and_one_hot_labels():
    gen = ConditionalGenerator(DCGANGenerator(image_size=16, channels=1, width=8), num_classes=K)
    z = jnp.repeat(jax.random.normal(jax.random.key(0), (1, LATENT)), K, axis=0)
    labels = jnp.arange(K)
    variables = _jit(gen.init, train=False)(jax.random.key(1), z, labels)
    images = np.asarray(_jit(gen.apply, train=False)(variables, z, labels))
    # Same z, different labels: images that differ on the scale of the images themselves.
    scale = np.abs(images).max()
    for a in range(K):
        for b in range(a + 1, K):
            assert np.abs(images[a] - images[b]).max() > 0.1 * scale > 0
    base = DCGANGenerator(image_size=16, channels=1, width=8)
    by_hand = _jit(base.apply, train=False)({'params': variables['params']['base'], 'batch_stats': variables['batch_stats']['base']},
                                            jnp.concatenate([z, jax.nn.one_hot(labels, K)], -1))
    np.testing.assert_allclose(images, by_hand, rtol=1e-6, atol=1e-6)


def test_projection_discriminator_adds_the_embedded_label_dot_the_features():
    base = DCGANDiscriminator(image_size=16, channels=1, width=8)
    disc = ConditionalDiscriminator(base, num_classes=K, mode='projection')
    x = jnp.repeat(jax.random.normal(jax.random.key(0), (1, 16, 16, 1)), K, axis=0)
    labels = jnp.arange(K)
    variables = _jit(disc.init, train=False)(jax.random.key(1), x, labels)
    logits = np.asarray(_jit(disc.apply, train=False)(variables, x, labels))
    psi, phi = _jit(base.apply, train=False, return_features=True)(
        {'params': variables['params']['base'], 'batch_stats': variables['batch_stats']['base']}, x)
    embedding = np.asarray(variables['params']['projection']['embedding'], np.float64)
    expected = np.asarray(psi, np.float64) + np.sum(embedding[np.asarray(labels)] * np.asarray(phi, np.float64), -1)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    # The same image gets a different logit under every label.
    assert len(np.unique(np.round(logits, 4))) == K


def test_concat_discriminator_feeds_label_channels_to_a_widened_base():
    base = widen_input(DCGANDiscriminator(image_size=16, channels=1, width=8), K)
    assert base.channels == 1 + K
    disc = ConditionalDiscriminator(base, num_classes=K, mode='concat')
    x = jnp.repeat(jax.random.normal(jax.random.key(0), (1, 16, 16, 1)), K, axis=0)
    labels = jnp.arange(K)
    variables = _jit(disc.init, train=False)(jax.random.key(1), x, labels)
    logits = np.asarray(_jit(disc.apply, train=False)(variables, x, labels))
    maps = np.broadcast_to(np.eye(K)[:, None, None, :], (K, 16, 16, K))
    expected = _jit(base.apply, train=False)(
        {'params': variables['params']['base'], 'batch_stats': variables['batch_stats']['base']},
        jnp.concatenate([x, maps], -1))
    np.testing.assert_allclose(logits, expected, rtol=1e-6, atol=1e-6)
    assert len(np.unique(np.round(logits, 5))) == K
    # Points: the one-hot label is appended to the coordinates.
    assert widen_input(MLPDiscriminator(input_shape=(2,), hidden=(8,)), K).input_shape == (2 + K,)


def _mlp_state(game, discriminator):
    gen = ConditionalGenerator(MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False), num_classes=K)
    example = game.sample_latents(jax.random.key(0), 1)
    x_example = jnp.zeros((1, 2))
    if hasattr(game, 'discriminator_example'):
        x_example = game.discriminator_example(x_example)
    return create_state(gen, discriminator, optax.adam(1e-2), optax.adam(1e-2), jax.random.key(1), example, x_example)


def _labeled_batch(num=8):
    latents = {'z': jax.random.normal(jax.random.key(5), (num, LATENT)),
               'labels': jnp.arange(num, dtype=jnp.int32) % K}
    return {'x': jax.random.normal(jax.random.key(6), (num, 2)), 'label': (jnp.arange(num, dtype=jnp.int32) + 1) % K,
            GENERATOR_INPUTS: latents}


def test_cgan_losses_judge_real_pairs_and_fakes_with_their_labels():
    game = ConditionalGame(objective=get_objective('nonsaturating'), latent_dim=LATENT, num_classes=K)
    state = _mlp_state(game, ConditionalDiscriminator(MLPDiscriminator(input_shape=(2,), hidden=(8,)), K))
    batch = _labeled_batch()
    g, disc = state.generator, state.discriminator
    fake = g.network.apply({'params': g.params}, **batch[GENERATOR_INPUTS])
    d = lambda x, y: disc.network.apply({'params': disc.params}, x, y)
    real_logits, fake_logits = d(batch['x'], batch['label']), d(fake, batch[GENERATOR_INPUTS]['labels'])
    d_loss, (metrics, _, _) = jax.jit(game.d_loss)(state.discriminator.params, state, batch, jax.random.key(2))
    np.testing.assert_allclose(d_loss, -_log_sigmoid(real_logits).mean() - _log_sigmoid(-fake_logits).mean(), rtol=1e-5)
    g_loss, _ = jax.jit(game.g_loss)(state.generator.params, state, batch, jax.random.key(3))
    np.testing.assert_allclose(g_loss, -_log_sigmoid(fake_logits).mean(), rtol=1e-5)
    # Labels of the real batch matter: other labels, another loss.
    other = {**batch, 'label': (batch['label'] + 1) % K}
    assert abs(float(jax.jit(game.d_loss)(disc.params, state, other, jax.random.key(2))[0]) - float(d_loss)) > 1e-5
    with pytest.raises(ValueError, match='needs a labeled dataset'):
        game.d_loss(state.discriminator.params, state, {'x': batch['x']}, jax.random.key(2))


def test_acgan_losses_add_the_weighted_class_cross_entropies():
    weight = 0.7
    game = AuxiliaryClassifierGame(objective=get_objective('hinge'), latent_dim=LATENT, num_classes=K,
                                   class_loss_weight=weight)
    state = _mlp_state(game, AuxiliaryClassifierDiscriminator(MLPDiscriminator(input_shape=(2,), hidden=(8,)), K))
    batch = _labeled_batch()
    g, disc = state.generator, state.discriminator
    fake = g.network.apply({'params': g.params}, **batch[GENERATOR_INPUTS])
    d = lambda x: disc.network.apply({'params': disc.params}, x)
    (real_logits, real_classes), (fake_logits, fake_classes) = d(batch['x']), d(fake)
    # The class head is a linear layer on D's last hidden layer.
    _, features = disc.network.base.apply({'params': disc.params['base']}, batch['x'], return_features=True)
    head = disc.params['class_head']
    np.testing.assert_allclose(real_classes, features @ head['kernel'] + head['bias'], rtol=1e-5, atol=1e-6)
    hinge = np.maximum(0, 1 - np.asarray(real_logits)).mean() + np.maximum(0, 1 + np.asarray(fake_logits)).mean()
    fake_labels = batch[GENERATOR_INPUTS]['labels']
    class_loss = _cross_entropy(real_classes, batch['label']) + _cross_entropy(fake_classes, fake_labels)
    d_loss, (metrics, _, _) = jax.jit(game.d_loss)(state.discriminator.params, state, batch, jax.random.key(2))
    np.testing.assert_allclose(d_loss, hinge + weight * class_loss, rtol=1e-5)
    g_loss, _ = jax.jit(game.g_loss)(state.generator.params, state, batch, jax.random.key(3))
    expected = -np.asarray(fake_logits).mean() + weight * _cross_entropy(fake_classes, fake_labels)
    np.testing.assert_allclose(g_loss, expected, rtol=1e-5)


def test_sampled_labels_are_uniform_over_the_classes():
    game = ConditionalGame(objective=get_objective('nonsaturating'), latent_dim=LATENT, num_classes=K)
    latents = game.sample_latents(jax.random.key(0), 4000)
    assert latents['labels'].dtype == jnp.int32 and latents['z'].shape == (4000, LATENT)
    counts = np.bincount(np.asarray(latents['labels']), minlength=K)
    assert counts.shape == (K,) and np.all(np.abs(counts / 4000 - 1 / K) < 0.03)


# MLP networks keep the compilations short; the DCGAN wrappers train in the CLI test.
@pytest.mark.parametrize('path, overrides', [(CGAN, []), (CGAN, ['cgan.discriminator=concat']),
                                             (CGAN, ['cgan.loss=wgan_gp']), (ACGAN, [])])
def test_the_engine_step_trains_each_conditional_game(path, overrides):
    config = config_lib.load_config(f'{path}:tiny', ['model=mlp', 'generator.hidden=(16,)',
                                                     'discriminator.hidden=(16,)', *overrides])
    init, game = make_init(config, DIGITS16)
    state = jax.jit(init)(jax.random.key(0))
    batch = {'x': jax.random.uniform(jax.random.key(1), (16, 16, 16, 1), minval=-1, maxval=1),
             'label': jnp.arange(16, dtype=jnp.int32) % 10}
    new, metrics = jax.jit(make_train_step(game))(state, batch, jax.random.key(2))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                         (state.generator.params, state.discriminator.params),
                         (new.generator.params, new.discriminator.params))
    assert max(jax.tree.leaves(moved[0])) > 0 and max(jax.tree.leaves(moved[1])) > 0
    if 'cgan.loss=wgan_gp' in overrides:
        assert 'gradient_penalty' in metrics


# num_classes None now means the dataset's: only an unlabeled dataset leaves the game without classes.
UNLABELED16 = data.DatasetSpec(name='unlabeled', kind='image', shape=(16, 16, 1), num_classes=None,
                               num_examples={'train': 100})


@pytest.mark.parametrize('overrides, spec, message', [
    (['cgan.num_classes=None'], UNLABELED16, r'needs a labeled dataset or config.cgan.num_classes'),
    (['cgan.discriminator=film'], DIGITS16,
     r"unknown cgan.discriminator 'film'; valid: \['projection', 'concat'\]"),
    (['cgan.loss=wgan'], DIGITS16, 'set --config.optim.weight_clip=0.01'),
    (['discriminator.pack=2'], DIGITS16, 'does not take'),
])
def test_bad_conditional_configs_say_what_is_wrong(overrides, spec, message):
    with pytest.raises(ValueError, match=message):
        build_game(config_lib.load_config(f'{CGAN}:tiny', overrides), spec)


def test_cli_trains_cgan_and_samples_labels_deterministically(tmp_path, data_dir):
    workdir = str(tmp_path / 'cgan')
    cli.main(['gans', 'train', f'--config={CGAN}:tiny', f'--workdir={workdir}', '--config.num_devices=1'])
    paths = [str(tmp_path / f'{name}.npz') for name in 'ab']
    for path in paths:
        cli.main(['gans', 'sample', f'--workdir={workdir}', '--num=12', '--seed=3', f'--out={path}'])
    a, b = np.load(paths[0]), np.load(paths[1])
    assert sorted(a.files) == ['images', 'labels']
    assert a['images'].shape == (12, 16, 16, 1) and a['images'].dtype == np.uint8
    assert a['labels'].shape == (12,) and a['labels'].dtype == np.int32
    assert a['labels'].min() >= 0 and a['labels'].max() < 10
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])


def test_num_classes_must_match_the_dataset(data_dir):
    from gans import data
    from gans.engine import sharding
    from gans.engine.experiment import build_experiment
    config = config_lib.load_config('experiments/configs/cgan_digits.py:tiny', ['cgan.num_classes=7'])
    with pytest.raises(ValueError, match="num_classes is 7 but dataset 'digits' has 10 classes"):
        build_experiment(config, data.config_spec(config), sharding.make_mesh(1))
