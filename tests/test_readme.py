"""Every command in the README runs, so none goes stale.

Each line of the README's ```bash blocks runs here in a scratch directory, shrunk only in size
(a config's `tiny` variant and 4 steps, a few samples for evaluation); training commands first,
so that the commands reading their runs find them. The override examples (a ```text block) load
through the config loader. Commands that prose mentions, and the few that need a machine of
their own (pip, the test suite, a multi-process launch), are named with the test or CI script
that runs them, and that file must run them.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time

import numpy as np
import pytest

from gans import cli
from gans import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, 'README.md')).read()

# Commands run by CI or by another test: (command prefix, file that runs it, what that file contains).
ELSEWHERE = {
    'pip install -e .': ('.ci/run', "pip install --quiet -e '.[test,bench]'"),
    "pip install -e '.[test]'": ('.ci/run', "pip install --quiet -e '.[test,bench]'"),
    "pip install -e '.[notebooks]'": ('pyproject.toml', 'notebooks = ['),
    'python -m pytest': ('.ci/run', 'python3 -m pytest -q -n 2'),
    'python experiments/bench/dcgan_step.py': ('tests/test_bench.py', 'dcgan_step.main()'),
    'NUM_PROCESSES=2 DEVICES_PER_PROCESS=2 launch/local.sh': ('tests/test_multihost.py', "'launch/local.sh'"),
    'tensorboard --logdir': ('tests/test_tensorboard.py', 'event_pb2'),
    'jupyter lab experiments/notebooks': ('tests/test_notebooks.py', 'NotebookClient'),
}


def _blocks(language: str) -> list[str]:
    return re.findall(rf'```{language}\n(.*?)```', README, re.S)


def _lines(block: str) -> list[str]:
    """A block's commands: comments dropped, `a && b` as two."""
    commands = []
    for line in block.splitlines():
        line = re.split(r'\s#', line, maxsplit=1)[0].strip()
        commands += [part.strip() for part in line.split('&&') if part.strip()] if line else []
    return commands


def readme_commands() -> list[str]:
    return [c for block in _blocks('bash') for c in _lines(block)]


# Commands whose shrunk form ends in their documented user error: 4 steps of DCGAN draw too few
# digit classes for class-mean arithmetic (tests/test_latent_figures.py checks the figure itself).
SHRUNK_ERRORS = {'gans arithmetic': 'have no samples to average'}


def _elsewhere(command: str) -> bool:
    return any(command.startswith(prefix) for prefix in ELSEWHERE)


def shrink(argv: list[str]) -> list[str]:
    """The same command at test size: tiny configs and 4 steps; 64 samples to evaluate a run."""
    argv = [a.replace('/tmp/', 'tmp/') for a in argv]
    command = argv[1] if len(argv) > 1 else ''
    if command == 'train':
        out = []
        for i, arg in enumerate(argv):
            previous = argv[i - 1] if i else ''
            if previous == '--config' and ':' not in arg:
                arg += ':tiny'
            out.append(arg)
        return out + ['--config.num_steps=4']
    if command == 'evaluate' and '--workdir' in argv and '--num' not in argv:
        return argv + ['--num', '64']
    return argv


def _run(command: str) -> None:
    argv = shlex.split(command)
    if argv[0] == 'gans' or argv[:3] == ['python', '-m', 'gans']:
        argv = ['gans'] + argv[(1 if argv[0] == 'gans' else 3):]
        expected = next((e for prefix, e in SHRUNK_ERRORS.items() if command.startswith(prefix)), None)
        try:
            cli.main(shrink(argv))
        except ValueError as error:
            if expected is None or expected not in str(error):
                raise
        except SystemExit as exit_:
            assert exit_.code in (0, None), f'{command}: exit status {exit_.code}'
        return
    if argv[0] == 'python' and argv[1].startswith('experiments/'):
        # A script of the checkout, run as a user runs it, from the scratch directory.
        result = subprocess.run([sys.executable, os.path.join(ROOT, argv[1]), *argv[2:]], capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, f'{command}:\n{result.stderr[-3000:]}'
        return
    raise AssertionError(f'the README command {command!r} is neither run here nor listed in ELSEWHERE')


def _user_inputs(path: str) -> None:
    """`mine.npz` for `gans translate --input`: a user's own images, here 5 grey 16 px edge maps
    (the tiny pix2pix config's input)."""
    rng = np.random.default_rng(0)
    np.savez(path, images=(rng.random((5, 16, 16, 1)) > 0.8).astype(np.uint8) * 255)


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path, monkeypatch, data_dir, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('GANS_CACHE_DIR', str(tmp_path / 'cache'))
    _user_inputs('mine.npz')
    commands = [c for c in readme_commands() if not _elsewhere(c)]
    trains = [c for c in commands if re.match(r'(gans|python -m gans) train\b', c)]
    assert len(trains) >= 10 and len(commands) > len(trains) + 10, 'the README lost its commands'
    # Each distinct command once (the quickstart's training is also the Training section's first line).
    for command in dict.fromkeys(trains + [c for c in commands if c not in trains]):
        start = time.time()
        _run(command)
        print(f'$ {command}  ({time.time() - start:.1f} s)', flush=True)
    for output in ('curves.png', 'samples.npz', 'points.npz', 'interp.png', 'traverse.png', 'manifold.png',
                   'recon.npz', 't.npz', 'grid.png'):
        assert os.path.getsize(output) > 0, output
    with np.load('points.npz') as points:
        assert points['points'].shape == (2500, 2)


def test_the_override_examples_load():
    """Each line of the overrides block applies to the default config (its game and networks)."""
    (block,) = _blocks('text')[:1]
    for line in _lines(block):
        overrides = [arg.removeprefix('--config.') for arg in shlex.split(line)]
        config = config_lib.load_config('dcgan_digits', overrides)
        for override in overrides:
            key, value = override.split('=')
            got = config
            for part in key.split('.'):
                got = got[part]
            assert got == type(got)(value), override


def test_commands_run_elsewhere_are_run_there():
    """The pip, pytest and launch commands (and the prose's benchmark) are in the file named for them."""
    prose = re.sub(r'```.*?```', '', README, flags=re.S)
    inline = [m for m in re.findall(r'`([^`\n]+)`', prose) if re.match(r'(gans|python|pip|jupyter|tensorboard|NUM_)\S* ', m)]
    mentioned = readme_commands() + inline
    for command in mentioned:
        if command.startswith(('gans ', 'python -m gans')) or command in readme_commands():
            continue  # a bash block's line runs above; a `gans ...` in prose is a block's too
        assert _elsewhere(command), f'{command!r}: put it in a ```bash block or name where it runs'
    for prefix, (path, needle) in ELSEWHERE.items():
        assert any(c.startswith(prefix) for c in mentioned), f'{prefix!r} is no longer in the README'
        assert needle in open(os.path.join(ROOT, path)).read(), f'{path} no longer runs {prefix!r}'


def test_the_readme_test_command_is_what_ci_runs():
    (quickstart,) = _blocks('bash')[:1]
    test_command = _lines(quickstart)[-1]
    ci = open(os.path.join(ROOT, '.ci', 'run')).read()
    assert test_command.replace('python ', 'python3 ') in ci
