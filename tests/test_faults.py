"""Faults: preemption by SIGTERM/SIGINT, a kill during a save, and a checkpoint of another config."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from gans import cli
from gans import config as config_lib
from gans.engine.checkpoint import COMMIT_MARKER, CheckpointMismatchError
from gans.engine import workdir_lock
from gans.engine.loop import train
from gans.engine.resume_config import ConfigChangedError

DCGAN = 'experiments/configs/dcgan_digits.py:tiny'
RING = 'experiments/configs/mlp_ring8.py:tiny'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Many steps, logged every step, no checkpoint or grid before the interruption.
ENDLESS = ['num_steps=100000', 'checkpoint_every=100000', 'sample_every=100000', 'log_every=1', 'num_devices=1']


def _logged_steps(workdir):
    path = os.path.join(workdir, 'metrics.jsonl')
    if not os.path.isfile(path):
        return []
    return [json.loads(line)['step'] for line in open(path) if line.endswith('\n')]


def _wait_for_log(workdir, timeout=120):
    deadline = time.monotonic() + timeout
    while not _logged_steps(workdir):
        if time.monotonic() > deadline:
            raise TimeoutError(f'no metrics logged in {workdir} after {timeout} s')
        time.sleep(0.2)


def test_sigterm_saves_at_the_current_step_and_a_rerun_finishes(tmp_path, data_dir, capsys):
    workdir = str(tmp_path / 'run')
    command = [sys.executable, '-m', 'gans', 'train', f'--config={RING}', f'--workdir={workdir}',
               *(f'--config.{o}' for o in ENDLESS)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_log(workdir)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    steps = _logged_steps(workdir)
    stopped = steps[-1]
    assert f'stopped by SIGTERM at step {stopped} of 100000' in err
    assert os.listdir(os.path.join(workdir, 'checkpoints')) == [str(stopped)]
    assert os.path.isfile(os.path.join(workdir, 'checkpoints', str(stopped), COMMIT_MARKER))
    assert steps == list(range(1, stopped + 1))

    cli.main(['gans', 'train', f'--config={RING}', f'--workdir={workdir}', '--config.num_devices=1',
              f'--config.num_steps={stopped + 2}'])
    assert f'resumed from step {stopped}' in capsys.readouterr().err
    assert _logged_steps(workdir) == list(range(1, stopped + 3))
    assert str(stopped + 2) in os.listdir(os.path.join(workdir, 'checkpoints'))


def test_sigint_stops_cleanly_with_a_checkpoint(tmp_path, data_dir, capsys):
    workdir = str(tmp_path / 'run')
    config = config_lib.load_config(RING, ENDLESS)

    def interrupt():
        _wait_for_log(workdir)
        os.kill(os.getpid(), signal.SIGINT)

    # A SIGINT that came after train() returned must not end the test session.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        sender = threading.Thread(target=interrupt, daemon=True)
        sender.start()
        state = train(config, workdir)
        sender.join(timeout=60)
    finally:
        signal.signal(signal.SIGINT, previous)
    stopped = int(state.step)
    assert 0 < stopped < config.num_steps
    assert f'stopped by SIGINT at step {stopped}' in capsys.readouterr().err
    assert os.listdir(os.path.join(workdir, 'checkpoints')) == [str(stopped)]
    assert _logged_steps(workdir)[-1] == stopped


def test_interrupted_saves_are_set_aside_and_the_run_resumes_from_the_last_complete_one(tmp_path, data_dir,
                                                                                        capsys):
    workdir = str(tmp_path / 'run')
    cli.main(['gans', 'train', f'--config={RING}', f'--workdir={workdir}'])  # checkpoints at steps 2 and 4
    checkpoints = os.path.join(workdir, 'checkpoints')
    # Step 4's save died before its commit marker; step 6's died while writing its temporary directory.
    os.remove(os.path.join(checkpoints, '4', COMMIT_MARKER))
    shutil.copytree(os.path.join(checkpoints, '4'), os.path.join(checkpoints, '6.orbax-checkpoint-tmp-17'))
    capsys.readouterr()

    cli.main(['gans', 'train', f'--config={RING}', f'--workdir={workdir}', '--config.num_steps=6'])
    err = capsys.readouterr().err
    assert f'{checkpoints}/4 is an incomplete checkpoint' in err
    assert f'{checkpoints}/6.orbax-checkpoint-tmp-17 is an incomplete checkpoint' in err
    assert f'resumed from step 2 ({checkpoints}/2)' in err
    assert sorted(os.listdir(checkpoints), key=int) == ['2', '4', '6']
    moved = sorted(os.listdir(os.path.join(workdir, 'incomplete_checkpoints')))
    assert [name.split('.')[0] for name in moved] == ['4', '6']  # kept, not deleted
    assert _logged_steps(workdir) == [1, 2, 3, 4, 5, 6]


def _snapshot(workdir):
    """Every file under the workdir with its size and modification time (but the lock, which
    each `train` takes and rewrites with its own process id before it reads anything)."""
    found = {}
    for parent, _, files in os.walk(workdir):
        for name in files:
            if name == workdir_lock.LOCK_FILENAME:
                continue
            path = os.path.join(parent, name)
            found[os.path.relpath(path, workdir)] = (os.path.getsize(path), os.path.getmtime(path))
    return found


@pytest.fixture(scope='module')
def dcgan_run(tmp_path_factory, data_dir):
    workdir = str(tmp_path_factory.mktemp('dcgan') / 'run')
    train(config_lib.load_config(DCGAN, ['num_steps=2', 'num_devices=1']), workdir)
    return workdir


@pytest.mark.parametrize('override, message', [
    ('generator.width=16', r'arrays differ in shape or dtype: generator\.params\.\S+ is \(.*\) in the '
                           r"checkpoint, .*differs from .*config.json in: generator.width: 8 -> 16"),
    ('model=mlp', r"arrays only in the checkpoint \(discriminator\.params\..*arrays only in the config "
                  r"\(discriminator\.params\.Dense_0.*model: 'dcgan' -> 'mlp'"),
], ids=['width', 'model'])
def test_checkpoint_of_another_config_names_the_mismatch_and_deletes_nothing(dcgan_run, override, message):
    before = _snapshot(dcgan_run)
    config = config_lib.load_config(DCGAN, ['num_steps=4', 'num_devices=1', override])
    with pytest.raises(ConfigChangedError, match=re.escape(override.split('=')[0])):
        train(config, dcgan_run)
    assert _snapshot(dcgan_run) == before
    # Allowed to change, the checkpoint still cannot fit the new networks: named array by array.
    with pytest.raises(CheckpointMismatchError, match=message):
        train(config, dcgan_run, allow_config_change=True)
    assert _snapshot(dcgan_run) == before
