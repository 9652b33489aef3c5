"""Unrolled GAN: G's gradient through K differentiable D updates, checked by finite differences."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import losses
from gans.games.gan import AdversarialGame
from gans.games.remedies.unrolled import unroll_discriminator
from gans.models.mlp import MLPDiscriminator, MLPGenerator
from gans.engine.state import create_state

LATENT = 3
OBJECTIVE = losses.get_objective('nonsaturating')


def _game(**fields):
    return AdversarialGame(latent_dim=LATENT, objective=OBJECTIVE, **fields)


def _state(d_tx, dtype=jnp.float32):
    gen = MLPGenerator(output_shape=(2,), hidden=(6,), tanh_output=False)
    disc = MLPDiscriminator(input_shape=(2,), hidden=(6,))
    state = create_state(gen, disc, optax.adam(1e-3), d_tx, jax.random.key(0),
                         jnp.zeros((1, LATENT), dtype), jnp.zeros((1, 2), dtype))
    cast = lambda tree: jax.tree.map(lambda p: p.astype(dtype), tree)
    d_params = cast(state.discriminator.params)
    return state.replace(generator=state.generator.replace(params=cast(state.generator.params)),
                         discriminator=state.discriminator.replace(params=d_params, opt_state=d_tx.init(d_params)))


def _g_grad(game, state, batch, key):
    return jax.jit(jax.grad(lambda p: game.g_loss(p, state, batch, key)[0]))(state.generator.params)


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope='module')
def setup():
    state = _state(optax.adam(0.05))
    batch = {'x': jax.random.normal(jax.random.key(1), (16, 2))}
    return state, batch, jax.random.key(2)


def test_zero_unroll_steps_is_the_plain_gradient(setup):
    state, batch, key = setup
    plain = _g_grad(_game(), state, batch, key)
    assert _max_diff(_g_grad(_game(unroll_steps=0), state, batch, key), plain) == 0.0
    # K > 0 with a D that cannot move (SGD at rate 0) is the plain gradient too.
    frozen = _game(unroll_steps=3, unroll_tx=optax.sgd(0.0))
    assert _max_diff(_g_grad(frozen, state, batch, key), plain) < 1e-6


def test_unrolled_gradient_differs_from_the_plain_one(setup):
    state, batch, key = setup
    plain = _g_grad(_game(), state, batch, key)
    for tx in (None, optax.sgd(0.5)):
        unrolled = _g_grad(_game(unroll_steps=3, unroll_tx=tx), state, batch, key)
        assert _max_diff(unrolled, plain) > 1e-4


def test_one_sgd_unroll_step_is_one_gradient_step_on_d(setup):
    """The unrolled parameters for K=1, SGD: theta - lr * grad L_D on the fakes of that step."""
    state, batch, key = setup
    game = _game()
    step_key = jax.random.split(key, 1)[0]
    z_key, penalty_key = jax.random.split(step_key)
    fake = state.generator.network.apply({'params': state.generator.params}, game.sample_latents(z_key, 16))
    grads, _ = jax.grad(game.d_objective, has_aux=True)(state.discriminator.params, {}, state, batch['x'], fake,
                                                          penalty_key)
    expected = jax.tree.map(lambda p, g: p - 0.3 * g, state.discriminator.params, grads)
    got = unroll_discriminator(game._unroll_objective(state), state, state.generator.params, batch['x'], key, 1,
                               optax.sgd(0.3))
    assert _max_diff(got, expected) < 1e-6


@pytest.mark.parametrize('tx_name', ['sgd', 'adam'])
def test_unrolled_gradient_matches_finite_differences(tx_name):
    """Central differences of G's unrolled loss along a random direction, in float64."""
    with jax.enable_x64(True):
        d_tx = optax.adam(0.05) if tx_name == 'adam' else optax.sgd(0.5)
        state = _state(d_tx, jnp.float64)
        if tx_name == 'adam':
            # Non-zero moments, as after a few training steps, so the unroll starts mid-run.
            d = state.discriminator
            grads = jax.tree.map(lambda p: 0.1 * jnp.ones_like(p), d.params)
            state = state.replace(discriminator=d.replace(opt_state=d_tx.update(grads, d.opt_state, d.params)[1]))
        game = _game(unroll_steps=3)  # D's own optimizer
        batch = {'x': jax.random.normal(jax.random.key(1), (8, 2), jnp.float64)}
        key = jax.random.key(2)
        loss = jax.jit(lambda p: game.g_loss(p, state, batch, key)[0])
        grad = jax.jit(jax.grad(lambda p: game.g_loss(p, state, batch, key)[0]))(state.generator.params)
        leaves, treedef = jax.tree.flatten(state.generator.params)
        keys = jax.random.split(jax.random.key(3), len(leaves))
        direction = treedef.unflatten([jax.random.normal(k, x.shape, jnp.float64) for k, x in zip(keys, leaves)])
        eps = 1e-5
        shifted = lambda s: jax.tree.map(lambda p, v: p + s * eps * v, state.generator.params, direction)
        numeric = (loss(shifted(1.0)) - loss(shifted(-1.0))) / (2 * eps)
        analytic = sum(jnp.vdot(g, v) for g, v in zip(jax.tree.leaves(grad), jax.tree.leaves(direction)))
        plain = jax.grad(lambda p: _game().g_loss(p, state, batch, key)[0])(state.generator.params)
        plain_dir = sum(jnp.vdot(g, v) for g, v in zip(jax.tree.leaves(plain), jax.tree.leaves(direction)))
        np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-6, atol=1e-9)
        # The check is sharp enough to tell the unrolled derivative from the plain one.
        assert abs(float(plain_dir) - float(numeric)) > 1e3 * abs(float(analytic) - float(numeric))
