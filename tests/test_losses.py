"""Checks gans.losses against closed forms: optimal discriminators, JS, penalties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import losses

# Two distributions on 5 points, as integer counts out of 20, so that a batch that
# repeats point i count[i] times has batch averages equal to exact expectations.
REAL_COUNTS = np.array([1, 2, 3, 4, 10])
FAKE_COUNTS = np.array([5, 5, 4, 3, 3])
TOTAL = 20


def _as_batch(per_point, counts):
    return jnp.repeat(per_point, counts, total_repeat_length=TOTAL)


def _descend(loss_of_params, init, learning_rate, steps):
    """Plain gradient descent, jitted as one fori_loop."""

    @jax.jit
    def run(params):
        grad = jax.grad(loss_of_params)
        return jax.lax.fori_loop(
            0, steps, lambda _, p: p - learning_rate * grad(p), params
        )

    return run(init)


def _js_divergence(p, q):
    """JS from its definition: mean KL of each distribution to their mixture."""
    m = 0.5 * (p + q)

    def kl(a, b):
        return float(np.sum(np.where(a > 0, a * np.log(a / b), 0.0)))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


@pytest.mark.parametrize(
    "real_counts, fake_counts",
    [(REAL_COUNTS, FAKE_COUNTS), (REAL_COUNTS, REAL_COUNTS)],
    ids=["different", "equal"],
)
def test_minimax_discriminator_reaches_optimum_and_js(real_counts, fake_counts):
    p_r, p_g = real_counts / TOTAL, fake_counts / TOTAL

    def d_loss(logits):
        return losses.d_minimax(
            _as_batch(logits, real_counts), _as_batch(logits, fake_counts)
        )

    logits = _descend(d_loss, jnp.zeros(5), learning_rate=5.0, steps=1000)

    d_star = p_r / (p_r + p_g)
    np.testing.assert_allclose(jax.nn.sigmoid(logits), d_star, atol=1e-4)
    max_value = -float(jax.jit(d_loss)(logits))
    np.testing.assert_allclose(
        max_value, -np.log(4.0) + 2.0 * _js_divergence(p_r, p_g), atol=1e-5
    )
    if np.array_equal(real_counts, fake_counts):
        np.testing.assert_allclose(jax.nn.sigmoid(logits), 0.5, atol=1e-5)
        np.testing.assert_allclose(max_value, -np.log(4.0), atol=1e-5)


def test_least_squares_discriminator_optimum_is_mao_closed_form():
    p_r, p_g = REAL_COUNTS / TOTAL, FAKE_COUNTS / TOTAL

    def d_loss(outputs):
        return losses.d_least_squares(
            _as_batch(outputs, REAL_COUNTS), _as_batch(outputs, FAKE_COUNTS)
        )

    outputs = _descend(d_loss, jnp.zeros(5), learning_rate=1.0, steps=500)
    # Mao et al.: D* = (b p_r + a p_g) / (p_r + p_g) with a = 0, b = 1.
    np.testing.assert_allclose(outputs, p_r / (p_r + p_g), atol=1e-5)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    logit = jnp.array([-10.0])
    saturating = jax.jit(jax.grad(losses.g_saturating))(logit)
    nonsaturating = jax.jit(jax.grad(losses.g_nonsaturating))(logit)
    assert abs(float(saturating[0])) < 1e-4
    assert abs(float(nonsaturating[0])) > 0.99
    # Both push the fake logit up (toward "real") when descended.
    assert float(saturating[0]) < 0 and float(nonsaturating[0]) < 0


def test_minimax_losses_match_naive_formula_at_moderate_logits():
    key_r, key_f = jax.random.split(jax.random.key(0))
    real = jax.random.normal(key_r, (16,)) * 3
    fake = jax.random.normal(key_f, (16,)) * 3
    d_real, d_fake = np.asarray(jax.nn.sigmoid(real)), np.asarray(jax.nn.sigmoid(fake))
    np.testing.assert_allclose(
        jax.jit(losses.d_minimax)(real, fake),
        -(np.mean(np.log(d_real)) + np.mean(np.log(1 - d_fake))),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        jax.jit(losses.g_saturating)(fake), np.mean(np.log(1 - d_fake)), rtol=1e-5
    )
    np.testing.assert_allclose(
        jax.jit(losses.g_nonsaturating)(fake), -np.mean(np.log(d_fake)), rtol=1e-5
    )


D_LOSSES = [
    losses.d_minimax,
    losses.d_least_squares,
    losses.d_wasserstein,
    losses.d_hinge,
]
G_LOSSES = [
    losses.g_saturating,
    losses.g_nonsaturating,
    losses.g_least_squares,
    losses.g_wasserstein,
    losses.g_hinge,
]


@pytest.mark.parametrize("d_loss", D_LOSSES, ids=lambda f: f.__name__)
def test_discriminator_losses_finite_at_extreme_logits(d_loss):
    extreme = jnp.array([-1e4, 1e4, 0.0])
    value, grads = jax.jit(jax.value_and_grad(d_loss, argnums=(0, 1)))(
        extreme, -extreme
    )
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("g_loss", G_LOSSES, ids=lambda f: f.__name__)
def test_generator_losses_finite_at_extreme_logits(g_loss):
    extreme = jnp.array([-1e4, 1e4, 0.0])
    value, grad = jax.jit(jax.value_and_grad(g_loss))(extreme)
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(grad))


def test_hinge_wasserstein_least_squares_match_hand_formulas():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(32, 1)) * 2, rng.normal(size=(32, 1)) * 2
    real_j, fake_j = jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32)
    expected = {
        losses.d_hinge: np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake)),
        losses.d_wasserstein: np.mean(fake) - np.mean(real),
        losses.d_least_squares: 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake**2),
    }
    for d_loss, value in expected.items():
        np.testing.assert_allclose(jax.jit(d_loss)(real_j, fake_j), value, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(losses.g_hinge)(fake_j), -np.mean(fake), rtol=1e-5)
    np.testing.assert_allclose(
        jax.jit(losses.g_wasserstein)(fake_j), -np.mean(fake), rtol=1e-5
    )
    np.testing.assert_allclose(
        jax.jit(losses.g_least_squares)(fake_j), 0.5 * np.mean((fake - 1) ** 2), rtol=1e-5
    )


def _linear_critic(weights, bias):
    # Sums over every non-batch axis, like a flattening dense layer.
    return lambda x: jnp.sum(x * weights, axis=tuple(range(1, x.ndim))) + bias


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_penalty_of_linear_critic_is_closed_form(seed):
    keys = jax.random.split(jax.random.key(seed), 4)
    weights = jax.random.normal(keys[0], (3, 4))
    real = jax.random.normal(keys[1], (8, 3, 4))
    fake = jax.random.normal(keys[2], (8, 3, 4))
    critic = _linear_critic(weights, 0.7)
    penalty = jax.jit(lambda r, f, k: losses.gradient_penalty(critic, r, f, k))(
        real, fake, keys[3]
    )
    expected = (float(np.linalg.norm(np.asarray(weights))) - 1.0) ** 2
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)

    unit_critic = _linear_critic(weights / jnp.linalg.norm(weights), -2.0)
    unit_penalty = jax.jit(lambda r, f, k: losses.gradient_penalty(unit_critic, r, f, k))(
        real, fake, keys[3]
    )
    np.testing.assert_allclose(unit_penalty, 0.0, atol=1e-10)


def test_gradient_penalty_draws_one_uniform_eps_per_example():
    # Critic 0.5 ||x||^2 has input gradient x_hat = eps * real when fake = 0; with
    # unit-norm real rows the penalty is mean (eps_i - 1)^2, whose expectation is 1/3.
    batch = 4096
    real = jnp.zeros((batch, 2)).at[:, 0].set(1.0)
    fake = jnp.zeros_like(real)

    def critic(x):
        return 0.5 * jnp.sum(jnp.square(x), axis=-1)

    penalty = jax.jit(lambda k: losses.gradient_penalty(critic, real, fake, k))(
        jax.random.key(3)
    )
    np.testing.assert_allclose(penalty, 1.0 / 3.0, atol=0.02)


def test_gradient_penalty_is_differentiable_at_zero_input_gradient():
    real = jnp.ones((4, 3))
    fake = jnp.zeros((4, 3))

    def penalty_of_scale(scale):
        critic = lambda x: scale * jnp.sum(x, axis=-1)  # noqa: E731
        return losses.gradient_penalty(critic, real, fake, jax.random.key(0))

    grad = jax.jit(jax.grad(penalty_of_scale))(0.0)
    assert np.isfinite(float(grad))


def test_r1_penalty_of_linear_critic_is_squared_weight_norm():
    keys = jax.random.split(jax.random.key(4), 2)
    weights = jax.random.normal(keys[0], (2, 5))
    real = jax.random.normal(keys[1], (6, 2, 5))
    penalty = jax.jit(lambda r: losses.r1_penalty(_linear_critic(weights, 0.0), r))(real)
    np.testing.assert_allclose(penalty, float(np.sum(np.asarray(weights) ** 2)), rtol=1e-5)


def test_gradient_penalty_rejects_mismatched_shapes():
    critic = _linear_critic(jnp.ones((3,)), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(critic, jnp.ones((4, 3)), jnp.ones((5, 3)), jax.random.key(0))


def test_objectives_registry():
    assert set(losses.OBJECTIVES) == {
        "minimax", "nonsaturating", "lsgan", "wgan", "wgan_gp", "hinge"
    }
    for name, objective in losses.OBJECTIVES.items():
        assert objective.name == name
        assert losses.get_objective(name) is objective
    assert losses.get_objective("minimax").g_loss is losses.g_saturating
    assert losses.get_objective("nonsaturating").g_loss is losses.g_nonsaturating
    assert losses.get_objective("wgan").weight_clip == 0.01
    assert losses.get_objective("wgan_gp").gradient_penalty_weight == 10.0
    assert losses.get_objective("hinge").gradient_penalty_weight == 0.0


def test_get_objective_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown GAN objective 'wgan-gp'") as err:
        losses.get_objective("wgan-gp")
    for name in losses.OBJECTIVES:
        assert name in str(err.value)
