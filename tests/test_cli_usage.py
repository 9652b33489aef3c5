"""The command line as a user meets it: help, `gans list`, configs by name, and user errors as one
line with exit status 2 (no traceback unless asked)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from gans import cli
from gans import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gans(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, '-m', 'gans', *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_help_lists_every_command_and_exits_0():
    result = _gans('--help')
    assert result.returncode == 0
    for name, command in cli.COMMANDS.items():
        assert f'  {name}' in result.stdout and command.summary in result.stdout
    assert _gans().returncode == 0  # bare `gans` shows the same


@pytest.mark.parametrize('command, present, absent', [
    ('train', ['--config:', '--workdir:', '--allow_config_change:', '--config.<field>=<value>'], ['--out']),
    ('sample', ["--out: output file (default: 'samples.npz')", '--num: how many samples / examples (default: 1000)'],
     ['--config']),
    ('translate', ["(default: 'translations.npz')", '--input:'], ['--allow_config_change']),
    ('reconstruct', ["(default: 'recon.npz')", "--split: the split to compare with or to use (default: 'test')"],
     ['--input']),
])
def test_command_help_lists_its_own_flags_with_its_defaults(command, present, absent, capsys):
    cli.main(['gans', command, '--help'])
    out = capsys.readouterr().out
    assert out.startswith(f'usage: gans {command} [flags]') and f'example: gans {command}' in out
    for text in present:
        assert text in out
    for text in absent:
        assert text not in out


def test_list_shows_what_ships(capsys):
    cli.main(['gans', 'list'])
    out = capsys.readouterr().out
    for name in ('dcgan_digits', 'pix2pix_fashion_edges', 'mlp_ring8', 'pix2pix', 'infogan', 'dcgan', 'hinge',
                 'wgan_gp', 'fashion_edges', 'digits', 'inception'):
        assert f'  {name} ' in out or out.count(f'  {name}\n'), name
    assert '  common' not in out


def test_a_shipped_config_loads_by_name_from_any_directory(tmp_path, monkeypatch):
    by_path = config_lib.load_config(os.path.join(ROOT, 'experiments/configs/dcgan_digits.py:tiny'))
    monkeypatch.chdir(tmp_path)
    assert config_lib.load_config('dcgan_digits:tiny') == by_path
    with pytest.raises(FileNotFoundError, match=r"no config 'dcgan_digit'.*shipped ones: .*dcgan_digits"):
        config_lib.load_config('dcgan_digit')


def _garbage(tmp_path):
    path = tmp_path / 'garbage.npz'
    path.write_bytes(b'this is not a numpy file')
    return str(path)


@pytest.mark.parametrize('args, message', [
    (['frobnicate'], "unknown command 'frobnicate'; the commands: train, sample"),
    (['train', '--workdir=W'], '--config is required; e.g. gans train --config dcgan_digits'),
    (['train', '--config=no_such_config', '--workdir=W'], "no config 'no_such_config': not a file"),
    (['train', '--config=dcgan_digits:tiny', '--workdir=W', '--config.num_steps=many'],
     "bad value 'many' for config field 'num_steps'"),
    (['train', '--config=dcgan_digits:tiny', '--workdir=W', '--config.no_such_field=1'],
     "unknown config field 'no_such_field'"),
    (['train', '--config=dcgan_digits:tiny', '--workdir=W', '--config.model=resnet'], "unknown model 'resnet'"),
    (['sample', '--workdir=W', '--config=dcgan_digits'], '--config: not a flag of `gans sample`'),
    (['sample', '--workdir=W', '--num=ten'], "flag --num=ten: invalid literal"),
    (['sample', '--workdir=NOT_A_RUN'], 'holds no config.json: is it the workdir of a `gans train` run?'),
    (['evaluate', '--samples=GARBAGE', '--dataset=digits'], 'is not a readable .npz file'),
])
def test_user_errors_are_one_line_with_status_2(args, message, tmp_path):
    args = [a.replace('=W', f'={tmp_path}/w').replace('NOT_A_RUN', str(tmp_path)).replace('GARBAGE', _garbage(tmp_path))
            for a in args]
    result = _gans(*args)
    assert result.returncode == 2, result.stderr[-2000:]
    command = args[0] if args[0] in cli.COMMANDS else ''
    assert result.stderr.startswith(f'gans{" " + command if command else ""}: error: '), result.stderr[-2000:]
    assert message in result.stderr and 'Traceback' not in result.stderr
    assert not os.path.exists(f'{tmp_path}/w'), 'a refused command left a workdir behind'


def test_verbose_shows_the_traceback(tmp_path):
    for flag, env in ((['--verbose'], None), ([], {'GANS_VERBOSE': '1'})):
        result = _gans('train', '--config=no_such_config', f'--workdir={tmp_path}/w', *flag, env=env)
        assert result.returncode != 0 and 'Traceback' in result.stderr and 'FileNotFoundError' in result.stderr


def test_evaluate_names_an_object_array_instead_of_unpickling_it(tmp_path):
    path = str(tmp_path / 'objects.npz')
    np.savez(path, images=np.array([{'not': 'an image'}], dtype=object))
    result = _gans('evaluate', f'--samples={path}', '--dataset=digits')
    assert result.returncode == 2 and 'holds Python objects' in result.stderr, result.stderr[-2000:]
