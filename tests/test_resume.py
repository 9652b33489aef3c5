"""Resuming: N + N steps with a restart equal 2N uninterrupted steps, on the same or other device counts."""
import json
import os
import shutil

import jax
import numpy as np
import pytest

from gans import config as config_lib
from gans.engine.loop import train

DCGAN = 'experiments/configs/dcgan_digits.py:tiny'
RING = 'experiments/configs/mlp_ring8.py:tiny'
N = 3


def _config(path, num_steps, num_devices):
    # d_steps=2: two real batches per step, so a wrong data position shows at once. The tiny
    # DCGAN has batch norm in both players and an EMA of G in its optimizer state; the MLP
    # (quick to compile) gets an EMA too.
    return config_lib.load_config(path, [f'num_steps={num_steps}', f'num_devices={num_devices}', 'optim.d_steps=2',
                                         f'checkpoint_every={N}', f'sample_every={N}', 'optim.ema_decay=0.9'])


def _curve(workdir):
    """The logged losses per step (steps_per_s aside: it is a timing)."""
    lines = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
    return [{k: v for k, v in line.items() if k != 'steps_per_s'} for line in lines]


def _arrays(state):
    return jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0]


def _full_and_half(root, path):
    """A 2N-step run and an N-step run (to be resumed), both on 8 devices."""
    full = train(_config(path, 2 * N, 8), str(root / 'full'))
    train(_config(path, N, 8), str(root / 'half'))
    return root, full


@pytest.fixture(scope='module')
def dcgan_runs(tmp_path_factory, data_dir):
    return _full_and_half(tmp_path_factory.mktemp('dcgan'), DCGAN)


@pytest.fixture(scope='module')
def ring_runs(tmp_path_factory, data_dir):
    return _full_and_half(tmp_path_factory.mktemp('ring'), RING)


def test_restart_is_bitwise_identical_to_uninterrupted_run(dcgan_runs):
    root, full = dcgan_runs
    workdir = str(root / 'resumed')
    shutil.copytree(root / 'half', workdir)
    # A crash after the checkpoint at step N had logged step N + 1 already; the rerun redoes it.
    with open(os.path.join(workdir, 'metrics.jsonl'), 'a') as f:
        f.write(json.dumps({'step': N + 1, 'd_loss': 123.0}) + '\n')
    resumed = train(_config(DCGAN, 2 * N, 8), workdir)
    assert int(resumed.step) == 2 * N
    for (path, a), (_, b) in zip(_arrays(full), _arrays(resumed), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
    assert _curve(workdir) == _curve(str(root / 'full'))
    assert json.loads(open(os.path.join(workdir, 'metrics.jsonl.dropped')).read())['d_loss'] == 123.0
    grid = f'samples/{2 * N:07d}.png'
    assert open(os.path.join(workdir, grid), 'rb').read() == open(str(root / 'full' / grid), 'rb').read()


def test_checkpoint_holds_the_data_position(dcgan_runs):
    root, _ = dcgan_runs
    data_state = json.load(open(root / 'half' / 'checkpoints' / str(N) / 'data' / 'metadata'))
    assert data_state == {'next_index': N}  # one batch of 2 * batch_size examples per step


@pytest.mark.parametrize('num_devices', [1, 4])
def test_resume_on_another_number_of_devices(ring_runs, num_devices):
    """Saved on 8 devices, resumed on 1 or 4: the replicated state restores onto the new mesh.

    Tolerance 1e-5 as in test_train: float32 reductions over a different number of shards
    sum in another order (~1e-7 relative per step), which Adam can amplify a little.
    """
    root, full = ring_runs
    workdir = str(root / f'devices{num_devices}')
    shutil.copytree(root / 'half', workdir)
    resumed = train(_config(RING, 2 * N, num_devices), workdir)
    assert jax.tree.leaves(resumed.generator.params)[0].sharding.mesh.size == num_devices
    for (path, a), (_, b) in zip(_arrays(full), _arrays(resumed), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, err_msg=jax.tree_util.keystr(path))
    assert [line['step'] for line in _curve(workdir)] == list(range(1, 2 * N + 1))
