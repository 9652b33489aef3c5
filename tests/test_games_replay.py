"""Experience replay: a fixed-size ring buffer in the game state, mixed into D's fake batch."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gans import losses
from gans.games.gan import AdversarialGame
from gans.games.remedies.replay import ReplayBuffer
from gans.models.mlp import MLPDiscriminator, MLPGenerator
from gans.engine.state import create_state
from gans.engine.step import make_train_step


def test_mix_draws_the_configured_fraction_and_rotates_the_buffer():
    replay = ReplayBuffer(size=10, fraction=0.25)
    buffer = replay.init(jnp.arange(10.0)[:, None])  # buffer rows are 0..9
    mix = jax.jit(replay.mix)
    fresh_values = []
    for step in range(5):
        fresh = 100.0 * (step + 1) + jnp.arange(8.0)[:, None]  # markers >= 100
        mixed, new = mix(buffer, fresh, jax.random.key(step))
        assert mixed.shape == fresh.shape and new['fakes'].shape == (10, 1)
        from_buffer = np.isin(np.asarray(mixed[:, 0]), np.asarray(buffer['fakes'][:, 0]))
        assert from_buffer.sum() == 2 == round(0.25 * 8)  # the configured fraction of the batch
        np.testing.assert_array_equal(mixed[:6], fresh[:6])  # the kept fresh fakes, in order
        assert len(set(np.asarray(mixed[6:, 0]).tolist())) == 2  # drawn without replacement
        # The 6 kept fakes overwrote the 6 oldest rows, starting at `next`, wrapping around.
        written = (int(buffer['next']) + np.arange(6)) % 10
        np.testing.assert_array_equal(new['fakes'][written], fresh[:6])
        untouched = np.setdiff1d(np.arange(10), written)
        np.testing.assert_array_equal(new['fakes'][untouched], buffer['fakes'][untouched])
        assert int(new['next']) == (int(buffer['next']) + 6) % 10
        fresh_values.append(np.asarray(fresh[:6, 0]))
        buffer = new
    # After 5 steps of 6 writes the buffer holds the 10 newest fakes, nothing older.
    newest = np.concatenate(fresh_values)[-10:]
    np.testing.assert_array_equal(np.sort(np.asarray(buffer['fakes'][:, 0])), np.sort(newest))


def test_invalid_settings_are_named():
    with pytest.raises(ValueError, match='replay_fraction'):
        ReplayBuffer(size=4, fraction=1.0)
    with pytest.raises(ValueError, match='replay_size'):
        ReplayBuffer(size=0, fraction=0.5)
    with pytest.raises(ValueError, match='smaller than'):
        ReplayBuffer(size=2, fraction=0.5).num_replayed(8)


def test_replay_in_the_jitted_step_keeps_size_and_feeds_d():
    replay = ReplayBuffer(size=24, fraction=0.5)
    game = AdversarialGame(latent_dim=4, objective=losses.get_objective('nonsaturating'), replay=replay)
    gen = MLPGenerator(output_shape=(2,), hidden=(8,), tanh_output=False)
    disc = MLPDiscriminator(input_shape=(2,), hidden=(8,))
    state = create_state(gen, disc, optax.sgd(1e-2), optax.sgd(1e-2), jax.random.key(0),
                         jnp.zeros((1, 4)), jnp.zeros((1, 2)))
    state = state.replace(game_state=game.init_game_state(state, jax.random.key(1)))
    initial = np.asarray(state.game_state['replay']['fakes'])
    # The buffer starts full of the initial generator's samples.
    expected = gen.apply({'params': state.generator.params}, game.sample_latents(jax.random.key(1), 24))
    np.testing.assert_allclose(initial, expected, rtol=1e-6)
    step = jax.jit(make_train_step(game, d_steps=2))
    batch = {'x': jax.random.normal(jax.random.key(2), (16, 2))}
    for i in range(3):
        state, metrics = step(state, batch, jax.random.key(3))
        assert state.game_state['replay']['fakes'].shape == (24, 2)
        assert int(state.game_state['replay']['next']) == (i + 1) * 2 * 4 % 24
    # 3 steps x 2 D updates x 4 kept fakes = 24 writes: every initial row was replaced.
    assert not np.isin(np.asarray(state.game_state['replay']['fakes']), initial).any()
    # D's loss with replay differs from D's loss on fresh fakes alone (the buffer is used).
    plain = AdversarialGame(latent_dim=4, objective=losses.get_objective('nonsaturating'))
    with_replay, _ = game.d_loss(state.discriminator.params, state, {'x': batch['x'][:8]}, jax.random.key(4))
    without, _ = plain.d_loss(state.discriminator.params, state, {'x': batch['x'][:8]}, jax.random.key(4))
    assert abs(float(with_replay) - float(without)) > 1e-6
