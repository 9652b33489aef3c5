"""Many seeds in one program: a vmapped run of S seeds equals S separate runs of the engine."""
import os
import sys

import jax
import numpy as np
import pytest

from gans import config as config_lib
from gans import sharding
from gans.data import DatasetSpec
from gans.train import build_experiment, train_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # experiments/ is not an installed package
    sys.path.insert(0, ROOT)
from experiments.ablations import seeds as seeds_lib  # noqa: E402
from experiments.ablations import sweep  # noqa: E402

RING_SPEC = DatasetSpec(name='ring8', kind='points', shape=(2,), num_classes=8, num_examples={'train': 100_000})
STEPS = 3


def _separate_run(base_config, seed, data, extra=()):
    """The engine's own path: build_experiment for config.seed = seed, its jitted step, its keys."""
    config = config_lib.load_config('experiments/configs/mlp_ring8.py:tiny',
                                    [f'seed={seed}', *OVERRIDES[data], *extra])
    experiment = build_experiment(config, RING_SPEC, sharding.make_mesh(1))
    sample = seeds_lib.mixture_sampler('ring8', config.batch_size * config.optim.d_steps)
    stream = seeds_lib.data_key(base_config, seed, data)  # 'shared': base_config.seed's stream
    state, key = experiment.state, train_key(config)
    for i in range(STEPS):
        batch = sharding.global_batch(jax.device_get(sample(jax.random.fold_in(stream, i))), experiment.mesh)
        state, metrics = experiment.train_step(state, batch, key)
    return jax.device_get(state), jax.device_get(metrics)


# One plain setting and one with game state (a replay buffer) and two D steps per G step.
OVERRIDES = {'per_seed': [], 'shared': ['replay_size=40', 'optim.d_steps=2']}


@pytest.mark.parametrize('data', ['per_seed', 'shared'])
def test_vmapped_seeds_equal_separate_runs(data):
    config = config_lib.load_config('experiments/configs/mlp_ring8.py:tiny', OVERRIDES[data])
    states, metrics = seeds_lib.train_seeds(config, seeds=[3, 8], num_steps=STEPS, data=data)
    assert metrics['d_loss'].shape == (2, STEPS)
    for index, seed in enumerate([3, 8]):
        expected, last = _separate_run(config, seed, data)
        got = seeds_lib.seed_state(states, index)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(metrics['g_loss'][index, -1], last['g_loss'], rtol=1e-5)
    # The two seeds really differ, so the comparison above is not between two copies.
    assert abs(float(metrics['g_loss'][0, -1] - metrics['g_loss'][1, -1])) > 1e-6


def test_learning_rate_schedule_spans_the_steps_train_seeds_runs():
    """train_seeds(num_steps=n) is a run of n steps, so a decaying rate reaches its end at step n
    (as `gans train --config.num_steps=n` would), whatever num_steps the config holds."""
    config = config_lib.load_config('experiments/configs/mlp_ring8.py:tiny', ['optim.lr_schedule=linear',
                                                                             'optim.lr_final_fraction=0.1'])
    assert config.num_steps != STEPS
    states, _ = seeds_lib.train_seeds(config, seeds=[5], num_steps=STEPS)
    expected, _ = _separate_run(config, 5, 'per_seed', extra=['optim.lr_schedule=linear',
                                                              'optim.lr_final_fraction=0.1', f'num_steps={STEPS}'])
    for a, b in zip(jax.tree.leaves(seeds_lib.seed_state(states, 0)), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_data_modes_and_sampler_errors():
    config = config_lib.load_config('experiments/configs/mlp_ring8.py:tiny')
    shared = [seeds_lib.data_key(config, s, 'shared') for s in (1, 2)]
    own = [seeds_lib.data_key(config, s, 'per_seed') for s in (1, 2)]
    assert (jax.random.key_data(shared[0]) == jax.random.key_data(shared[1])).all()
    assert not (jax.random.key_data(own[0]) == jax.random.key_data(own[1])).all()
    with pytest.raises(ValueError, match=r"valid: \['per_seed', 'shared'\]"):
        seeds_lib.data_key(config, 0, 'mixed')
    with pytest.raises(ValueError, match='pass sample_batch'):
        seeds_lib.mixture_sampler('digits', 4)


def test_sweep_summary_table_from_generated_points(tmp_path):
    """The sweep's table: per-seed mode metrics, then mean and std per (mixture, variant)."""
    centers = np.asarray(seeds_lib.MIXTURES['ring8'].centers)
    perfect = np.repeat(centers, 300, axis=0)  # 300 points on each mode's center
    collapsed = np.repeat(centers[:1], 2400, axis=0)
    rows = sweep.seed_rows('ring8', 'demo', np.stack([perfect, collapsed]), seeds=[0, 1])
    assert [r['modes_covered'] for r in rows] == [8, 1]
    assert [r['high_quality_pct'] for r in rows] == [100.0, 100.0]
    summary = sweep.summarize(rows)
    assert summary[0]['modes_mean'] == 4.5 and summary[0]['seeds'] == 2
    sweep.write_tables(rows, summary, str(tmp_path), header='test')
    assert 'ring8' in (tmp_path / 'sweep.md').read_text()
    assert (tmp_path / 'sweep_seeds.csv').read_text().count('\n') == 3
