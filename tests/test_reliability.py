"""Faults that used to damage a run silently: damaged checkpoint bytes, two writers on one workdir,
a config changed on resume, a full disk during a save (a dead process: tests/test_multihost.py)."""
from __future__ import annotations

import glob
import json
import os
import resource
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import cli
from gans import config as config_lib
from gans.engine import integrity, resume_config, workdir_lock
from gans.engine.checkpoint import DAMAGED_DIR, Checkpointer, CheckpointIntegrityError
from gans.engine.experiment import build_experiment
from gans.engine import sharding
from gans import data

RING = 'experiments/configs/mlp_ring8.py:tiny'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _logged_steps(workdir):
    path = os.path.join(workdir, 'metrics.jsonl')
    if not os.path.isfile(path):
        return []
    return [json.loads(line)['step'] for line in open(path) if line.endswith('\n')]


def _train(workdir, *flags):
    cli.main(['gans', 'train', f'--config={RING}', f'--workdir={workdir}', '--config.num_devices=1', *flags])


def _flip_a_byte_of_the_largest_data_file(checkpoint: str) -> str:
    files = glob.glob(os.path.join(checkpoint, 'state', 'ocdbt.process_0', 'd', '*'))
    path = max(files, key=os.path.getsize)
    with open(path, 'r+b') as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    return path


def _train_elsewhere(workdir, *flags):
    """Trains in a child process: what this process later reads of the run then comes from the
    disk, not from the cache of what it wrote (tensorstore keeps one per process)."""
    subprocess.run([sys.executable, '-m', 'gans', 'train', f'--config={RING}', f'--workdir={workdir}',
                    '--config.num_devices=1', *flags], cwd=ROOT, check=True, capture_output=True)


def test_a_damaged_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(tmp_path, data_dir, capsys):
    workdir = str(tmp_path / 'run')
    _train_elsewhere(workdir)  # checkpoints at steps 2 and 4
    checkpoints = os.path.join(workdir, 'checkpoints')
    _flip_a_byte_of_the_largest_data_file(os.path.join(checkpoints, '4'))
    capsys.readouterr()

    # A command that only reads refuses it, names it, and moves nothing.
    with pytest.raises(CheckpointIntegrityError, match=rf'{checkpoints}/4 fails verification: 1 of its \d+ files '
                                                       r'differ from what was committed: state/ocdbt.process_0/d/\w+ '
                                                       r'\(changed\).*Nothing was changed.*other complete checkpoints '
                                                       r'are steps \[2\]'):
        cli.main(['gans', 'sample', f'--workdir={workdir}', f'--out={tmp_path}/s.npz'])
    assert sorted(os.listdir(checkpoints), key=int) == ['2', '4']

    _train(workdir, '--config.num_steps=6')
    err = capsys.readouterr().err
    assert f'checkpoint {checkpoints}/4 fails verification' in err
    assert f'resumed from step 2 ({checkpoints}/2)' in err
    kept = os.listdir(os.path.join(workdir, DAMAGED_DIR))
    assert [name.split('.')[0] for name in kept] == ['4']  # kept aside, never deleted
    assert sorted(os.listdir(checkpoints), key=int) == ['2', '4', '6']
    assert _logged_steps(workdir) == [1, 2, 3, 4, 5, 6]  # steps 3-4 of the damaged branch dropped once


def test_damaged_data_position_and_unreadable_metadata_fail_verification_and_nan_is_not_saved(tmp_path, data_dir):
    workdir = str(tmp_path / 'run')
    _train_elsewhere(workdir, '--config.num_steps=2')
    config = config_lib.load_workdir_config(workdir)
    template = build_experiment(config, data.config_spec(config), sharding.make_mesh(1)).state
    checkpointer = Checkpointer(workdir)
    try:
        state, data_state = checkpointer.restore(template)  # verifies as saved
        data_file = os.path.join(checkpointer.path(2), 'data', 'metadata')
        saved = json.load(open(data_file))
        json.dump(_bump_first_int(saved), open(data_file, 'w'))
        with pytest.raises(CheckpointIntegrityError, match=r'files differ from what was committed: data/metadata '
                                                           r'\(changed\)'):
            checkpointer.restore(template)
        # A run killed between orbax's commit and the file digests: the array and data digests still tell.
        os.remove(os.path.join(checkpointer.path(2), integrity.FILES_DIGEST))
        with pytest.raises(CheckpointIntegrityError, match='the data-iterator state differs'):
            checkpointer.restore(template)
        open(os.path.join(checkpointer.path(2), 'state', '_METADATA'), 'w').write('{not json')
        with pytest.raises(CheckpointIntegrityError, match='cannot be read'):
            checkpointer.restore(template)
        # A state holding NaN is not saved: it could rotate the good checkpoints out.
        nan_params = jax.tree.map(lambda x: x * jnp.nan, template.generator.params)
        bad = template.replace(generator=template.generator.replace(params=nan_params))
        with pytest.raises(integrity.NonFiniteStateError, match=r'step 0 holds NaN or Inf in generator\.params\.'):
            checkpointer.save(bad, {})
        checkpointer.wait()
        assert checkpointer.all_steps() == [2]
    finally:
        checkpointer.close()
    assert int(state.step) == 2 and data_state == saved


def _bump_first_int(tree):
    """`tree` with its first integer leaf plus one (a data position one example on)."""
    done = []

    def bump(node):
        if isinstance(node, dict):
            return {k: bump(v) for k, v in node.items()}
        if isinstance(node, list):
            return [bump(v) for v in node]
        if isinstance(node, int) and not isinstance(node, bool) and not done:
            done.append(True)
            return node + 1
        return node
    bumped = bump(tree)
    assert done, f'no integer in the data state {tree}'
    return bumped


def test_digests_name_each_changed_array_and_a_non_finite_state_is_not_saved(tmp_path):
    tree = {'a': jnp.arange(6.0).reshape(2, 3), 'b': {'c': jnp.zeros((4,), jnp.int32)}}
    saved = integrity.record(tree, {'position': 3})
    assert saved['finite'] and sorted(saved['arrays']) == ['a', 'b.c']
    integrity.verify(saved, jax.device_get(tree), {'position': 3}, 'here')
    changed = {'a': np.arange(6, dtype=np.float32).reshape(2, 3), 'b': {'c': np.array([0, 0, 1, 0], np.int32)}}
    with pytest.raises(CheckpointIntegrityError, match=r'here fails verification: 1 of 2 arrays differ .*\(b\.c\)'):
        integrity.verify(saved, changed, {'position': 3}, 'here')
    # The same bytes in another shape are another array.
    with pytest.raises(CheckpointIntegrityError, match=r'\(a\)'):
        integrity.verify(saved, {'a': np.arange(6, dtype=np.float32).reshape(3, 2), 'b': {'c': np.zeros(4, np.int32)}},
                         {'position': 3}, 'here')
    bad = integrity.record({'w': jnp.array([1.0, jnp.nan]), 'n': jnp.ones(2)}, {})
    assert not bad['finite'] and bad['non_finite'] == ['w']


def test_a_second_train_on_a_locked_workdir_exits_2_at_once_and_the_first_logs_each_step_once(tmp_path, data_dir):
    workdir = str(tmp_path / 'run')
    command = [sys.executable, '-m', 'gans', 'train', f'--config={RING}', f'--workdir={workdir}',
               '--config.num_devices=1', '--config.num_steps=30', '--config.log_every=1']
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = workdir_lock.lock_path(workdir)
        deadline = time.monotonic() + 60
        while not (os.path.isfile(lock) and open(lock).read()):
            assert time.monotonic() < deadline, 'the first run never locked its workdir'
            time.sleep(0.05)
        started = time.monotonic()
        second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
        _, first_err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr[-2000:]
    assert f'is in use by another training run (process {first.pid} on host ' in second.stderr
    assert elapsed < 1.0, f'the second run took {elapsed:.2f} s to refuse'
    assert first.returncode == 0, first_err[-2000:]
    assert _logged_steps(workdir) == list(range(1, 31))


def test_a_killed_holder_leaves_no_stale_lock_and_reading_commands_ignore_the_lock(tmp_path, data_dir):
    workdir = str(tmp_path / 'run')
    _train(workdir, '--config.num_steps=2')
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time; from gans.engine import workdir_lock; '
         'workdir_lock.acquire(sys.argv[1]); print("locked", flush=True); time.sleep(600)', workdir],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(workdir_lock.WorkdirLockedError, match=f'process {holder.pid} on host '):
            _train(workdir, '--config.num_steps=4')
        cli.main(['gans', 'sample', f'--workdir={workdir}', '--num=4', f'--out={tmp_path}/s.npz'])
        assert np.load(f'{tmp_path}/s.npz')['points'].shape == (4, 2)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    _train(workdir, '--config.num_steps=4')  # the OS released the dead holder's lock
    assert _logged_steps(workdir) == [1, 2, 3, 4]


def test_a_changed_objective_on_resume_is_refused_and_with_the_flag_recorded(tmp_path, data_dir, capsys):
    workdir = str(tmp_path / 'run')
    _train(workdir, '--config.num_steps=2')
    saved = open(os.path.join(workdir, 'config.json')).read()
    with pytest.raises(resume_config.ConfigChangedError,
                       match=r"Changed:\n  gan\.loss: 'nonsaturating' -> 'hinge'\n  optim\.d_lr: 0\.001 -> 0\.0005\n"):
        _train(workdir, '--config.num_steps=4', '--config.gan.loss=hinge', '--config.optim.d_lr=5e-4')
    assert open(os.path.join(workdir, 'config.json')).read() == saved  # the record still says the truth
    assert _logged_steps(workdir) == [1, 2]

    # Run length and logging may change: recorded, no flag needed.
    _train(workdir, '--config.num_steps=3', '--config.log_every=3')
    assert [(h['step'], h['field'], h['old'], h['new'], h['allowed_by_flag'])
            for h in resume_config.history(workdir)] == [(2, 'log_every', 1, 3, False), (2, 'num_steps', 2, 3, False)]
    capsys.readouterr()
    cli.main(['gans', 'train', f'--config={RING}', f'--workdir={workdir}', '--config.num_devices=1',
              '--config.num_steps=5', '--config.log_every=3', '--config.gan.loss=hinge', '--allow_config_change'])
    assert "config changed on resume at step 3: gan.loss: 'nonsaturating' -> 'hinge'" in capsys.readouterr().err
    assert config_lib.load_workdir_config(workdir).gan.loss == 'hinge'
    assert ('gan.loss', 'nonsaturating', 'hinge', True) in [
        (h['field'], h['old'], h['new'], h['allowed_by_flag']) for h in resume_config.history(workdir) if h['step'] == 3]


def test_num_steps_is_not_free_under_a_decaying_schedule():
    config = config_lib.load_config(RING, ['optim.lr_schedule=cosine'])
    longer = config_lib.load_config(RING, ['optim.lr_schedule=cosine', 'num_steps=40'])
    assert resume_config.refused(config_lib.changes(config, longer), longer) == ['num_steps']


def _limit_file_size(limit_bytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def test_a_save_that_runs_out_of_space_stops_the_run_and_keeps_the_previous_checkpoint(tmp_path, data_dir):
    workdir = str(tmp_path / 'run')
    dcgan = 'experiments/configs/dcgan_digits.py:tiny'
    command = [sys.executable, '-m', 'gans', 'train', f'--config={dcgan}', f'--workdir={workdir}',
               '--config.num_devices=1']
    subprocess.run([*command, '--config.num_steps=2'], cwd=ROOT, check=True, capture_output=True)
    largest = max((os.path.getsize(p) for p in glob.glob(f'{workdir}/checkpoints/2/**/*', recursive=True)
                   if os.path.isfile(p)))
    # Files may grow to half the largest checkpoint file: logs and grids fit, the next save does not.
    full = subprocess.run([*command, '--config.num_steps=6'], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=_limit_file_size(largest // 2), timeout=300)
    assert full.returncode == 1
    assert ('gans train: stopped: saving the checkpoint of step 4 under '
            f'{workdir}/checkpoints failed') in full.stderr, full.stderr[-3000:]
    assert f'the previous checkpoint, step 2 at {workdir}/checkpoints/2, is intact' in full.stderr
    config = config_lib.load_workdir_config(workdir)
    template = build_experiment(config, data.config_spec(config), sharding.make_mesh(1)).state
    checkpointer = Checkpointer(workdir)
    try:
        assert checkpointer.all_steps() == [2]
        assert int(checkpointer.restore(template)[0].step) == 2  # and it verifies
    finally:
        checkpointer.close()


def test_the_soak_judges_growth_on_each_windows_floor():
    """A transient spike (a checkpoint write) moves the max of the readings but not the floors;
    a floor that rises is growth."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    try:
        from experiments import soak
    finally:
        sys.path.remove(root)
    mib = 2 ** 20
    flat = [{'step': s, 'rss_anon_bytes': 400 * mib + (60 * mib if s % 1000 == 0 else 0)}
            for s in range(0, 10_000, 100)]
    floors = soak.window_floors(flat, 1000)
    assert list(floors) == list(range(0, 10_000, 1000)) and set(floors.values()) == {400 * mib}
    summary = soak._floor_summary(flat, 5000, 1000)
    assert summary['rss_anon_floor_growth_after_warmup'] == 0
    growing = [{'step': r['step'], 'rss_anon_bytes': r['rss_anon_bytes'] + r['step'] * 4 * 1024}
               for r in flat]  # 4 KiB a step
    summary = soak._floor_summary(growing, 5000, 1000)
    # Each floor is its window's first reading after the spike: steps 5100 and 9100.
    expected = (400 * mib + 9100 * 4096) / (400 * mib + 5100 * 4096) - 1
    assert summary['rss_anon_floor_growth_after_warmup'] == pytest.approx(expected)
