"""Checks the per-player optax pieces in gans.optim against hand-rolled references."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import optim


def _params(seed=0, scale=1.0):
    """A pytree with several leaves of different shapes."""
    keys = jax.random.split(jax.random.key(seed), 3)
    return {
        "dense": {
            "kernel": scale * jax.random.normal(keys[0], (3, 4)),
            "bias": scale * jax.random.normal(keys[1], (4,)),
        },
        "scale": scale * jax.random.normal(keys[2], ()),
    }


def _run(transform, params, gradient_seq):
    """Applies transform to a sequence of gradients under jit; returns params, state."""
    update = jax.jit(transform.update)
    state = transform.init(params)
    for grads in gradient_seq:
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def test_ascent_increases_concave_objective_where_descent_decreases_it():
    def objective(x):  # concave, maximized at x = 3
        return -jnp.sum(jnp.square(x - 3.0))

    start = jnp.zeros(4)
    grad = jax.grad(objective)
    for transform, improves in (
        (optax.chain(optax.sgd(0.1), optim.ascent()), True),
        (optax.sgd(0.1), False),
    ):
        x, state = start, transform.init(start)
        update = jax.jit(transform.update)
        for _ in range(20):
            updates, state = update(grad(x), state, x)
            x = optax.apply_updates(x, updates)
        assert (float(objective(x)) > float(objective(start))) == improves
    # Adam's first ascent step moves every coordinate toward the maximizer.
    adam_ascent = optax.chain(optax.adam(0.1), optim.ascent())
    x, _ = _run(adam_ascent, start, [grad(start)])
    assert np.all(np.asarray(x) > 0)


def test_clip_weights_keeps_parameters_in_bound_after_large_updates():
    bound = 0.01
    params = _params(scale=0.005)
    transform = optax.chain(optax.sgd(1.0), optim.clip_weights(bound))
    keys = jax.random.split(jax.random.key(1), 30)
    gradient_seq = [
        jax.tree.map(lambda p, k=k: 5.0 * jax.random.normal(k, p.shape), params)
        for k in keys
    ]
    final, _ = _run(transform, params, gradient_seq)
    leaves = jax.tree.leaves(final)
    assert all(np.all(np.abs(leaf) <= bound) for leaf in leaves)
    # Large steps must actually reach the box edge, not shrink to nothing.
    assert max(float(np.max(np.abs(leaf))) for leaf in leaves) == pytest.approx(bound)


def test_clip_weights_is_identity_for_in_bound_steps():
    params = _params(scale=0.1)
    params = jax.tree.map(lambda p: jnp.clip(p, -0.5, 0.5), params)
    small_updates = jax.tree.map(lambda p: 0.01 * jnp.ones_like(p), params)
    updates, _ = jax.jit(optim.clip_weights(1.0).update)(
        small_updates, optax.EmptyState(), params
    )
    jax.tree.map(np.testing.assert_array_equal, updates, small_updates)


def test_clip_weights_needs_params_and_positive_bound():
    transform = optim.clip_weights(0.1)
    with pytest.raises(ValueError, match="needs the current parameters"):
        transform.update(jnp.ones(2), transform.init(jnp.ones(2)))
    with pytest.raises(ValueError, match="positive"):
        optim.clip_weights(0.0)


def _hand_rolled_ema(params, gradient_seq, learning_rate, decay, warmup):
    """SGD trajectory plus its parameter EMA, in float64 numpy."""
    params = jax.tree.map(lambda p: np.asarray(p, np.float64), params)
    ema = params
    for t, grads in enumerate(gradient_seq):
        params = jax.tree.map(lambda p, g: p - learning_rate * np.asarray(g), params, grads)
        d = min(decay, (1 + t) / (10 + t)) if warmup else decay
        ema = jax.tree.map(lambda e, p: d * e + (1 - d) * p, ema, params)
    return params, ema


@pytest.mark.parametrize("warmup", [True, False])
def test_track_ema_matches_hand_rolled_average(warmup):
    params = _params()
    keys = jax.random.split(jax.random.key(2), 25)
    gradient_seq = [
        jax.tree.map(lambda p, k=k: jax.random.normal(k, p.shape), params) for k in keys
    ]
    transform = optax.chain(optax.sgd(0.1), optim.track_ema(0.9, warmup=warmup))
    final, state = _run(transform, params, gradient_seq)
    expected_params, expected_ema = _hand_rolled_ema(
        params, gradient_seq, 0.1, 0.9, warmup
    )
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        final,
        expected_params,
    )
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        optim.ema_params(state),
        expected_ema,
    )
    assert int(state[1].count) == len(gradient_seq)


def test_track_ema_passes_updates_through_and_rejects_bad_decay():
    params = _params()
    updates = jax.tree.map(jnp.ones_like, params)
    transform = optim.track_ema(0.5)
    passed, _ = transform.update(updates, transform.init(params), params)
    jax.tree.map(np.testing.assert_array_equal, passed, updates)
    with pytest.raises(ValueError, match="needs the current parameters"):
        transform.update(updates, transform.init(params))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        optim.track_ema(1.0)


class _PlayerStates(NamedTuple):
    generator: optax.OptState
    discriminator: optax.OptState


def test_ema_params_finds_state_in_nested_containers():
    params = _params()
    with_ema = optax.chain(optax.adam(1e-3), optim.track_ema(0.99))
    without_ema = optax.chain(optax.adam(1e-3), optim.clip_weights(0.1))
    ema_state = with_ema.init(params)

    found = optim.ema_params(ema_state)
    jax.tree.map(np.testing.assert_array_equal, found, params)
    named = _PlayerStates(generator=ema_state, discriminator=without_ema.init(params))
    assert optim.ema_params(named) is found
    assert optim.ema_params((without_ema.init(params), {"g": ema_state})) is found
    assert optim.ema_params(without_ema.init(params)) is None
    assert optim.ema_params(optax.adam(1e-3).init(params)) is None
    # optax's own update EMA has an `ema` field too, but is not a parameter EMA.
    assert optim.ema_params(optax.ema(0.9).init(params)) is None
    with pytest.raises(ValueError, match="2 track_ema states"):
        optim.ema_params((ema_state, ema_state))


def test_player_optimizer_with_ema_converges_and_ema_lags():
    target = jnp.array([2.0, -1.0, 0.5])

    def loss(x):
        return jnp.sum(jnp.square(x - target))

    transform = optim.player_optimizer(0.05, ema_decay=0.95)
    x = jnp.zeros(3)
    state = transform.init(x)

    @jax.jit
    def step(x, state):
        updates, state = transform.update(jax.grad(loss)(x), state, x)
        return optax.apply_updates(x, updates), state

    lagged = False
    for _ in range(600):
        x, state = step(x, state)
        ema = optim.ema_params(state)
        # Moving toward the target from 0, the average stays further behind.
        if float(loss(ema)) > float(loss(x)) + 1e-3:
            lagged = True
    assert lagged
    np.testing.assert_allclose(x, target, atol=1e-2)
    np.testing.assert_allclose(optim.ema_params(state), target, atol=1e-2)


def test_two_time_scale_first_adam_step_is_lr_times_sign():
    params = _params()
    grads = jax.tree.map(lambda p: 3.0 * p + 0.1, params)
    g_lr, d_lr = 1e-4, 4e-4
    g_opt, d_opt = optim.player_optimizer(g_lr), optim.player_optimizer(d_lr)
    g_updates, _ = jax.jit(g_opt.update)(grads, g_opt.init(params), params)
    d_updates, _ = jax.jit(d_opt.update)(grads, d_opt.init(params), params)
    for g_step, d_step, grad in zip(
        jax.tree.leaves(g_updates), jax.tree.leaves(d_updates), jax.tree.leaves(grads)
    ):
        np.testing.assert_allclose(g_step, -g_lr * np.sign(grad), rtol=1e-4)
        np.testing.assert_allclose(d_step, -d_lr * np.sign(grad), rtol=1e-4)
        np.testing.assert_allclose(d_step / g_step, d_lr / g_lr, rtol=1e-4)


def test_player_optimizer_clips_before_tracking_ema():
    # decay 0 makes the EMA the latest parameters, so it must equal the clipped ones.
    params = _params(scale=0.005)
    transform = optim.player_optimizer(1.0, weight_clip=0.01, ema_decay=0.0)
    grads = jax.tree.map(lambda p: jnp.full_like(p, -1.0), params)
    final, state = _run(transform, params, [grads] * 3)
    assert all(np.all(np.abs(leaf) <= 0.01) for leaf in jax.tree.leaves(final))
    jax.tree.map(np.testing.assert_array_equal, optim.ema_params(state), final)


def test_player_optimizer_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="b1"):
        optim.player_optimizer(1e-3, b1=1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        optim.player_optimizer(-1e-3)
    # Schedules are accepted as learning rates.
    optim.player_optimizer(optax.constant_schedule(1e-3))


def test_composed_chain_under_jit_matches_eager():
    params = _params(scale=0.05)
    transform = optax.chain(
        optax.optimistic_gradient_descent(0.05),
        optim.clip_weights(0.1),
        optim.track_ema(0.8),
    )
    keys = jax.random.split(jax.random.key(5), 10)
    gradient_seq = [
        jax.tree.map(lambda p, k=k: jax.random.normal(k, p.shape), params) for k in keys
    ]
    jitted_params, jitted_state = _run(transform, params, gradient_seq)

    eager_params, eager_state = params, transform.init(params)
    for grads in gradient_seq:
        updates, eager_state = transform.update(grads, eager_state, eager_params)
        eager_params = optax.apply_updates(eager_params, updates)

    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)  # noqa: E731
    jax.tree.map(close, jitted_params, eager_params)
    jax.tree.map(close, optim.ema_params(jitted_state), optim.ema_params(eager_state))
    assert all(np.all(np.abs(leaf) <= 0.1) for leaf in jax.tree.leaves(jitted_params))
    assert jax.tree.structure(optim.ema_params(jitted_state)) == jax.tree.structure(params)


def _game_setup():
    """The setup of a game that brings no transforms of its own: both players get config.optim's Adam."""
    from gans.games import GameSetup
    return GameSetup(game=None, generator=None, discriminator=None)


@pytest.mark.parametrize('schedule', ['constant', 'cosine', 'linear'])
def test_config_learning_rate_schedules_span_each_players_updates(schedule):
    """Adam's first steps on a constant gradient move each weight by the learning rate, so the
    per-update moves trace the schedule: G's over num_steps, D's over num_steps * d_steps."""
    from gans import config as config_lib
    from gans.engine.experiment import build_optimizers
    cfg = config_lib.base_config()
    cfg.num_steps, cfg.optim.d_steps, cfg.optim.g_lr, cfg.optim.d_lr = 4, 2, 1e-2, 2e-2
    cfg.optim.lr_schedule, cfg.optim.lr_final_fraction = schedule, 0.1
    for tx, peak, updates in zip(build_optimizers(cfg, _game_setup()), (1e-2, 2e-2), (4, 8)):
        params = {'w': jnp.zeros(())}
        state, moves = tx.init(params), []
        update = jax.jit(tx.update)
        for _ in range(updates):
            step, state = update({'w': jnp.ones(())}, state, params)
            moves.append(-float(step['w']))
            params = optax.apply_updates(params, step)
        expected = {'constant': [peak] * updates,
                    'cosine': [float(optax.cosine_decay_schedule(peak, updates, 0.1)(i)) for i in range(updates)],
                    'linear': [float(optax.linear_schedule(peak, 0.1 * peak, updates)(i)) for i in range(updates)]}
        np.testing.assert_allclose(moves, expected[schedule], rtol=1e-4)
        if schedule != 'constant':
            assert moves[-1] < 0.6 * peak


def test_unknown_learning_rate_schedule_names_the_valid_ones():
    from gans import config as config_lib
    from gans.engine.experiment import build_optimizers
    cfg = config_lib.base_config()
    cfg.optim.lr_schedule = 'exponential'
    with pytest.raises(ValueError, match="unknown optim.lr_schedule 'exponential'.*cosine"):
        build_optimizers(cfg, _game_setup())
