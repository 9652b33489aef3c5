"""BEGAN: the autoencoder energy, the k_t controller and the convergence measure."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import data
from gans.games.began import BEGANGame, convergence_measure, k_update
from gans.models.autoencoder import ConvAutoencoder, MLPAutoencoder
from gans.models.mlp import MLPGenerator
from gans.engine.state import create_state
from gans.engine.step import make_train_step

LATENT = 3
DIGITS16 = data.dataset_spec('digits', image_size=16)


def _setup(lambda_k=1e-3, gamma=0.5, k_init=0.0, lr=1e-2):
    game = BEGANGame(latent_dim=LATENT, gamma=gamma, lambda_k=lambda_k, k_init=k_init)
    gen = MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False)
    disc = MLPAutoencoder(input_shape=(2,), hidden=(8,), code_dim=2)
    state = create_state(gen, disc, optax.adam(lr), optax.adam(lr), jax.random.key(0),
                         jnp.zeros((1, LATENT)), jnp.zeros((1, 2)))
    return game, state.replace(game_state=game.init_game_state(state, jax.random.key(1)))


def test_k_update_matches_the_formula_and_clips():
    np.testing.assert_allclose(k_update(0.3, 2.0, 0.5, gamma=0.7, lambda_k=0.01), 0.3 + 0.01 * (1.4 - 0.5))
    assert float(k_update(0.99, 10.0, 0.0, gamma=1.0, lambda_k=0.1)) == 1.0
    assert float(k_update(0.01, 0.0, 10.0, gamma=1.0, lambda_k=0.1)) == 0.0
    np.testing.assert_allclose(convergence_measure(2.0, 0.5, 0.7), 2.0 + abs(1.4 - 0.5))
    np.testing.assert_allclose(convergence_measure(1.0, 3.0, 0.5), 1.0 + 2.5)


def test_autoencoder_energy_is_the_per_example_l1_reconstruction_loss():
    ae = MLPAutoencoder(input_shape=(2,), hidden=(8,), code_dim=2)
    x = jax.random.normal(jax.random.key(0), (5, 2))
    variables = ae.init(jax.random.key(1), x)
    recon = ae.apply(variables, x, method='reconstruct')
    np.testing.assert_allclose(ae.apply(variables, x), np.abs(np.asarray(x - recon)).mean(axis=1), rtol=1e-6)


def test_d_loss_and_k_update_match_an_independent_computation():
    game, state = _setup(lambda_k=0.05, gamma=0.6)
    state = state.replace(game_state={'k': jnp.asarray(0.25)})
    real = jax.random.normal(jax.random.key(2), (16, 2))
    key = jax.random.key(3)
    loss, (metrics, _, game_state) = game.d_loss(state.discriminator.params, state, {'x': real}, key)
    # By hand: the same latents, G's output, then the autoencoder's reconstructions.
    fake = state.generator.network.apply({'params': state.generator.params}, jax.random.normal(key, (16, LATENT)))
    rec = lambda x: state.discriminator.network.apply({'params': state.discriminator.params}, x, method='reconstruct')
    l_real = float(np.abs(np.asarray(real - rec(real))).mean())
    l_fake = float(np.abs(np.asarray(fake - rec(fake))).mean())
    np.testing.assert_allclose(loss, l_real - 0.25 * l_fake, rtol=1e-5)
    np.testing.assert_allclose(game_state['k'], np.clip(0.25 + 0.05 * (0.6 * l_real - l_fake), 0, 1), rtol=1e-5)
    np.testing.assert_allclose(metrics['began_convergence'], l_real + abs(0.6 * l_real - l_fake), rtol=1e-5)


def test_k_stays_in_unit_interval_under_adversarial_inputs():
    """A huge lambda_k and real batches of wildly different scale drive k against both bounds."""
    game, state = _setup(lambda_k=50.0, gamma=1.0, k_init=0.5, lr=0.5)
    step = jax.jit(make_train_step(game))
    seen = []
    for i in range(12):
        scale = 1e4 if i % 3 == 0 else 1e-3  # a real batch far harder or far easier than the fakes
        real = scale * jax.random.normal(jax.random.key(i), (8, 2))
        state, metrics = step(state, {'x': real}, jax.random.key(100 + i))
        k = float(state.game_state['k'])
        assert 0.0 <= k <= 1.0 and np.isfinite(float(metrics['d_loss']))
        seen.append(k)
    assert 1.0 in seen and 0.0 in seen  # both bounds were hit: the clip was exercised


def test_d_loss_gradient_uses_k_as_a_constant():
    """d L_D / d theta = d L(x) / d theta - k d L(G(z)) / d theta, with k not differentiated."""
    game, state = _setup()
    state = state.replace(game_state={'k': jnp.asarray(0.4)})
    real = jax.random.normal(jax.random.key(2), (8, 2))
    key = jax.random.key(3)
    grads, _ = jax.grad(game.d_loss, has_aux=True)(state.discriminator.params, state, {'x': real}, key)
    fake = state.generator.network.apply({'params': state.generator.params}, jax.random.normal(key, (8, LATENT)))
    energy = lambda p, x: state.discriminator.network.apply({'params': p}, x).mean()
    d_params = state.discriminator.params
    g_real, g_fake = jax.grad(energy)(d_params, real), jax.grad(energy)(d_params, fake)
    expected = jax.tree.map(lambda a, b: a - 0.4 * b, g_real, g_fake)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_conv_autoencoder_energy_shapes_and_learning():
    ae = ConvAutoencoder(image_shape=(16, 16, 1), width=4, code_dim=8)
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (6, 16, 16, 1)), jnp.float32)
    params = ae.init(jax.random.key(0), x)['params']
    recon = ae.apply({'params': params}, x, method='reconstruct')
    assert recon.shape == x.shape
    energy = jax.jit(lambda p: ae.apply({'params': p}, x))
    np.testing.assert_allclose(energy(params), np.abs(np.asarray(x - recon)).mean(axis=(1, 2, 3)), rtol=1e-6)
    # Gradients reach every layer: Adam on this batch lowers the energy.
    tx = optax.adam(1e-2)
    opt_state = tx.init(params)
    step = jax.jit(lambda p, s: (lambda g: (optax.apply_updates(p, tx.update(g, s)[0]), tx.update(g, s)[1]))(
        jax.grad(lambda q: energy(q).mean())(p)))
    start = float(energy(params).mean())
    for _ in range(60):
        params, opt_state = step(params, opt_state)
    assert float(energy(params).mean()) < 0.7 * start


def test_began_builds_the_conv_autoencoder_and_rejects_unknown_ones():
    from gans import config as config_lib
    from gans.games import build_game
    cfg = config_lib.load_config('experiments/configs/began_digits.py:tiny', ['began.autoencoder=conv'])
    disc = build_game(cfg, DIGITS16).discriminator
    assert isinstance(disc, ConvAutoencoder)
    with pytest.raises(ValueError, match="began.autoencoder 'unet'"):
        build_game(config_lib.load_config('experiments/configs/began_digits.py:tiny', ['began.autoencoder=unet']),
                   DIGITS16)


@pytest.mark.parametrize('size', [8, 16, 32])
def test_conv_autoencoder_reconstructs_at_every_supported_size(size):
    ae = ConvAutoencoder(image_shape=(size, size, 3), width=4, code_dim=4)
    x = jnp.zeros((2, size, size, 3))
    params = ae.init(jax.random.key(0), x)['params']
    assert ae.apply({'params': params}, x, method='reconstruct').shape == x.shape
    with pytest.raises(ValueError, match='power-of-two image size'):
        ConvAutoencoder(image_shape=(12, 12, 1)).init(jax.random.key(0), jnp.zeros((1, 12, 12, 1)))
