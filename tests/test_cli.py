"""End to end through the command line: train a tiny config, sample, resume, and the guardrails."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from gans import cli, models
from gans.engine.loop import NonFiniteLossError

DCGAN = 'experiments/configs/dcgan_digits.py'
RING = 'experiments/configs/mlp_ring8.py'


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory, data_dir):
    workdir = str(tmp_path_factory.mktemp('run') / 'dcgan')
    cli.main(['gans', 'train', f'--config={DCGAN}:tiny', f'--workdir={workdir}', '--config.num_devices=2'])
    return workdir


def test_train_writes_checkpoints_logs_and_sample_grids(tiny_run):
    files = set(os.listdir(tiny_run))
    assert {'checkpoints', 'metrics.jsonl', 'tensorboard', 'samples', 'config.json'} <= files
    assert sorted(os.listdir(os.path.join(tiny_run, 'checkpoints'))) == ['2', '4']
    assert sorted(os.listdir(os.path.join(tiny_run, 'samples'))) == ['0000002.png', '0000004.png']
    assert os.listdir(os.path.join(tiny_run, 'tensorboard'))
    lines = [json.loads(line) for line in open(os.path.join(tiny_run, 'metrics.jsonl'))]
    assert [line['step'] for line in lines] == [1, 2, 3, 4]
    assert all(np.isfinite(line['d_loss']) and np.isfinite(line['g_loss']) for line in lines)


def test_sample_is_deterministic_and_uint8_nhwc(tiny_run, tmp_path):
    paths = [str(tmp_path / f'{name}.npz') for name in ('a', 'b', 'c')]
    for path, seed in zip(paths, (0, 0, 1)):
        cli.main(['gans', 'sample', f'--workdir={tiny_run}', '--num=20', f'--seed={seed}', f'--out={path}'])
    a, b, c = (np.load(p)['images'] for p in paths)
    assert a.dtype == np.uint8 and a.shape == (20, 16, 16, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rerun_resumes_from_latest_checkpoint(tiny_run, capsys):
    cli.main(['gans', 'train', f'--config={DCGAN}:tiny', f'--workdir={tiny_run}', '--config.num_steps=6',
              '--config.num_devices=2'])
    assert 'resumed from' in capsys.readouterr().err
    steps = [json.loads(line)['step'] for line in open(os.path.join(tiny_run, 'metrics.jsonl'))]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_points_dataset_trains_and_samples_points(tmp_path, data_dir):
    workdir = str(tmp_path / 'ring')
    cli.main(['gans', 'train', f'--config={RING}:tiny', f'--workdir={workdir}'])
    out = str(tmp_path / 'points.npz')
    cli.main(['gans', 'sample', f'--workdir={workdir}', '--num=7', f'--out={out}'])
    points = np.load(out)['points']
    assert points.shape == (7, 2) and points.dtype == np.float32


def test_nan_loss_stops_with_step_and_last_good_checkpoint(tmp_path, data_dir):
    # D's first Adam step of size 1e30 makes every later D output infinite. The losses of step 1
    # are taken before that (simultaneous updates), so step 1 is good and is checkpointed.
    workdir = str(tmp_path / 'nan')
    with pytest.raises(NonFiniteLossError, match=r'non-finite .* at step 2; .*checkpoint is step 1 at '):
        cli.main(['gans', 'train', f'--config={RING}:tiny', f'--workdir={workdir}', '--config.num_steps=40',
                  '--config.optim.d_lr=1e30', '--config.optim.simultaneous=True', '--config.checkpoint_every=1'])
    assert os.listdir(os.path.join(workdir, 'checkpoints')) == ['1']


@pytest.mark.parametrize('override, message', [
    ('--config.model=not_a_model', "unknown model 'not_a_model'; valid models: " + re.escape(str(sorted(models.MODELS)))),
    ('--config.gan.loss=wasserstein2', 'unknown .*wasserstein2'),
    ('--config.dataset=not_a_dataset', 'not_a_dataset'),
])
def test_unknown_names_list_the_valid_ones(tmp_path, data_dir, override, message):
    with pytest.raises(ValueError, match=message):
        cli.main(['gans', 'train', f'--config={DCGAN}:tiny', f'--workdir={tmp_path}', override])


def test_python_dash_m_gans_is_the_console_script():
    result = subprocess.run([sys.executable, '-m', 'gans'], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith('usage: gans <command> [flags]')
