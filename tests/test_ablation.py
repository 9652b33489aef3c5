"""Many seeds in one program: a vmapped run of S seeds equals S separate runs of the engine."""
import os
import sys

import jax
import numpy as np
import pytest

from gans import config as config_lib
from gans.engine import sharding
from gans.data import DatasetSpec
from gans.engine.experiment import build_experiment, train_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # experiments/ is not an installed package
    sys.path.insert(0, ROOT)
from gans.engine import seeds as seeds_lib  # noqa: E402
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
OVERRIDES = {'per_seed': [], 'shared': ['gan.replay_size=40', 'optim.d_steps=2']}


@pytest.mark.parametrize('data, seeds_in', [('per_seed', 'vmap'), ('shared', 'vmap'), ('per_seed', 'map')])
def test_seeds_in_one_program_equal_separate_runs(data, seeds_in):
    config = config_lib.load_config('experiments/configs/mlp_ring8.py:tiny', OVERRIDES[data])
    states, metrics = seeds_lib.train_seeds(config, seeds=[3, 8], num_steps=STEPS, data=data, seeds_in=seeds_in)
    assert metrics['d_loss'].shape == (2, STEPS)
    for index, seed in enumerate([3, 8]):
        expected, last = _separate_run(config, seed, data)
        got = seeds_lib.seed_state(states, index)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(metrics['g_loss'][index, -1], last['g_loss'], rtol=1e-5)
    # The two seeds really differ, so the comparison above is not between two copies.
    assert abs(float(metrics['g_loss'][0, -1] - metrics['g_loss'][1, -1])) > 1e-6


def test_seed_mode_maps_conv_image_configs_and_vmaps_mixtures():
    assert seeds_lib.seed_mode(config_lib.load_config('experiments/configs/dcgan_digits.py:tiny')) == 'map'
    assert seeds_lib.seed_mode(config_lib.load_config('experiments/configs/mlp_ring8.py:tiny')) == 'vmap'
    with pytest.raises(ValueError, match="unknown seed mode 'pmap'"):
        seeds_lib.seed_mode(config_lib.load_config('experiments/configs/mlp_ring8.py:tiny'), 'pmap')


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


def test_digits_verdict_counts_classes_of_real_and_collapsed_samples(data_dir):
    """Real held-out digits cover all ten classes; one repeated digit covers one."""
    from gans import data
    from gans.metrics import digits_classifier
    real = data.split_arrays('digits', split='test')
    assert real['x'].shape[1:] == (32, 32, 1) and -1.0 <= real['x'].min() < real['x'].max() <= 1.0
    images = np.stack([real['x'], np.repeat(real['x'][:1], len(real['x']), axis=0)])
    rows = sweep.digits_rows('demo', images, seeds=[0, 1], classifier=digits_classifier.load_params())
    assert [r['classes_present'] for r in rows] == [10, 1]
    assert rows[0]['rarest_pct'] >= 2.0 and rows[1]['rarest_pct'] == 0.0
    summary = sweep.summarize_digits(rows, {'demo': 1.0})[0]
    assert summary['classes_mean'] == 5.5 and summary['all_ten'] == 1


def test_sweep_runs_mixture_and_digits_cells_and_writes_plots(tmp_path, data_dir):
    """The driver end to end on tiny configs: tables, CSVs and one plot per cell."""
    from PIL import Image
    out = str(tmp_path / 'sweep')
    sweep.main(['--mixtures', 'ring8', '--objectives', 'nonsaturating', '--remedies', 'none,pack4', '--seeds', '2',
                '--steps', '2', '--variant', 'tiny', '--digits', '--digit-objectives', 'nonsaturating,began',
                '--digits-steps', '2', '--out', out])
    table = open(os.path.join(out, 'sweep.md')).read()
    for row in ('| ring8 | nonsaturating |', '| ring8 | nonsaturating+pack4 |', '| digits | nonsaturating |',
                '| digits | nonsaturating+pack4 |', '| digits | began |'):
        assert row in table
    assert open(os.path.join(out, 'digits_sweep_seeds.csv')).read().count('\n') == 1 + 3 * 2
    scatter = np.asarray(Image.open(os.path.join(out, 'ring8_nonsaturating_pack4.png')))
    assert scatter.shape[:2] == (256, 2 * 256)  # the two seeds side by side
    grid = np.asarray(Image.open(os.path.join(out, 'digits_began.png')))
    assert grid.shape[0] < grid.shape[1]  # two rows (seeds) of ten digits


def test_interrupted_sweep_keeps_the_cells_it_finished(tmp_path, data_dir, monkeypatch):
    out, calls = str(tmp_path / 'sweep'), []
    real_train_seeds = sweep.train_seeds

    def fail_on_second_cell(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_train_seeds(*args, **kwargs)

    monkeypatch.setattr(sweep, 'train_seeds', fail_on_second_cell)
    with pytest.raises(KeyboardInterrupt):
        sweep.main(['--mixtures', 'ring8', '--objectives', 'nonsaturating', '--remedies', 'none,pack4',
                    '--seeds', '2', '--steps', '2', '--variant', 'tiny', '--out', out])
    table = open(os.path.join(out, 'sweep.md')).read()
    assert '| ring8 | nonsaturating |' in table and '| ring8 | nonsaturating+pack4 |' not in table
