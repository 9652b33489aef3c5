"""MAD-GAN: k generators sharing their first layers; a (k+1)-way discriminator."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import config as config_lib
from gans import data
from gans.games import build_game
from gans.games.madgan import MADGANGame
from gans.models.mlp import MLPDiscriminator
from gans.models.multi_generator import MultiGenerator
from gans.engine.state import create_state
from gans.engine.step import make_train_step

K, LATENT = 3, 4
RING_SPEC = data.dataset_spec('ring8')
DIGITS16 = data.dataset_spec('digits', image_size=16)


def _by_hand(params, z, shared):
    """Generator b mod k on example b, from the parameters: shared Dense layers then stacked ones."""
    out = []
    for b, zb in enumerate(np.asarray(z, np.float64)):
        h, g = zb, b % K
        for i in range(shared):
            h = np.maximum(h @ params[f'Dense_{i}']['kernel'] + params[f'Dense_{i}']['bias'], 0)
        stacked = sorted((name for name in params if name.startswith('StackedDense')), key=lambda n: int(n.split('_')[1]))
        for i, name in enumerate(stacked):
            h = h @ params[name]['kernel'][g] + params[name]['bias'][g]
            if i < len(stacked) - 1:
                h = np.maximum(h, 0)
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize('shared', [0, 1, 2])
def test_multi_generator_shares_the_first_layers(shared):
    gen = MultiGenerator(output_shape=(2,), num_generators=K, hidden=(5, 6), shared_layers=shared, tanh_output=False)
    z = jax.random.normal(jax.random.key(0), (7, LATENT))
    params = gen.init(jax.random.key(1), z)['params']
    # Shared layers have one kernel; the others one per generator.
    assert sum(name.startswith('Dense') for name in params) == shared
    assert all(params[n]['kernel'].shape[0] == K for n in params if n.startswith('StackedDense'))
    out = gen.apply({'params': params}, z)
    assert out.shape == (7, 2)
    np.testing.assert_allclose(out, _by_hand(jax.device_get(params), z, shared), rtol=1e-5, atol=1e-6)
    # The same latent gives different points from different generators.
    same = jnp.repeat(z[:1], K, axis=0)
    points = np.asarray(gen.apply({'params': params}, same))
    assert np.abs(points[0] - points[1]).max() > 1e-3 and np.abs(points[1] - points[2]).max() > 1e-3


def _state():
    game = MADGANGame(latent_dim=LATENT, num_generators=K)
    gen = MultiGenerator(output_shape=(2,), num_generators=K, hidden=(8,), shared_layers=1, tanh_output=False)
    disc = MLPDiscriminator(input_shape=(2,), hidden=(8,), outputs=K + 1)
    state = create_state(gen, disc, optax.adam(1e-2), optax.adam(1e-2), jax.random.key(0),
                         jnp.zeros((1, LATENT)), jnp.zeros((1, 2)))
    return game, state


def test_losses_are_the_k_plus_one_way_cross_entropies():
    game, state = _state()
    real = jax.random.normal(jax.random.key(1), (6, 2))
    key = jax.random.key(2)
    d_loss, _ = game.d_loss(state.discriminator.params, state, {'x': real}, key)
    g, d = state.generator, state.discriminator
    fake = g.network.apply({'params': g.params}, jax.random.normal(key, (6, LATENT)))
    log_p = lambda x: np.asarray(jax.nn.log_softmax(d.network.apply({'params': d.params}, x)), np.float64)
    labels = np.arange(6) % K  # example b from generator b mod k; class K is "real"
    expected = -log_p(real)[:, K].mean() - log_p(fake)[np.arange(6), labels].mean()
    np.testing.assert_allclose(d_loss, expected, rtol=1e-5)
    g_loss, _ = game.g_loss(state.generator.params, state, {'x': real}, key)
    np.testing.assert_allclose(g_loss, -log_p(fake)[:, K].mean(), rtol=1e-5)


def test_madgan_trains_under_jit_and_is_built_from_the_config():
    game, state = _state()
    new, metrics = jax.jit(make_train_step(game))(state, {'x': jax.random.normal(jax.random.key(1), (6, 2))},
                                                  jax.random.key(2))
    assert np.isfinite(float(metrics['d_loss'])) and 0 <= float(metrics['d_generator_accuracy']) <= 1
    config = config_lib.load_config('experiments/configs/mlp_ring8.py:tiny', ['game=madgan', 'madgan.generators=5'])
    setup = build_game(config, RING_SPEC)
    assert (setup.game.num_generators, setup.generator.shared_layers, setup.discriminator.outputs) == (5, 2, 6)
    with pytest.raises(ValueError, match='use --config.model=mlp'):
        build_game(config_lib.load_config('experiments/configs/dcgan_digits.py:tiny', ['game=madgan']), DIGITS16)


def test_diversity_term_is_the_mean_cosine_similarity_between_generators():
    game, state = _state()
    diverse = MADGANGame(latent_dim=LATENT, num_generators=K, diversity_weight=0.5)
    key = jax.random.key(3)
    similarity = diverse.generator_similarity(state.generator.params, state, key, 6)
    # By hand: two shared latents, each through all K generators, compared in D's feature space.
    z = np.repeat(np.asarray(diverse.sample_latents(key, 2)), K, axis=0)
    fake = state.generator.network.apply({'params': state.generator.params}, z)
    d = state.discriminator
    _, features = d.network.apply({'params': d.params}, fake, return_features=True)
    f = np.asarray(features, np.float64).reshape(2, K, -1)
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    pairs = [f[n, i] @ f[n, j] for n in range(2) for i in range(K) for j in range(K) if i != j]
    np.testing.assert_allclose(similarity, np.mean(pairs), rtol=1e-4)
    real = {'x': jax.random.normal(jax.random.key(1), (6, 2))}
    plain, _ = game.g_loss(state.generator.params, state, real, key)
    with_term, (metrics, _, _) = diverse.g_loss(state.generator.params, state, real, key)
    np.testing.assert_allclose(with_term, plain + 0.5 * metrics['generator_similarity'], rtol=1e-5)
    # Descending the term alone pulls the generators' features apart.
    grads = jax.grad(lambda p: diverse.generator_similarity(p, state, key, 6))(state.generator.params)
    moved = jax.tree.map(lambda p, g: p - 0.5 * g, state.generator.params, grads)
    assert diverse.generator_similarity(moved, state, key, 6) < similarity
