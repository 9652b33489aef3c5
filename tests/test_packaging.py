"""The project as a user installs it: the wheel carries every package and the configs, and a fresh
virtual environment with only that wheel trains, samples and evaluates a shipped config by name."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_package_list_names_every_package_under_gans():
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        listed = set(tomllib.load(f)['tool']['setuptools']['packages'])
    found = {os.path.relpath(parent, ROOT).replace(os.sep, '.') for parent, _, files in os.walk(os.path.join(ROOT, 'gans'))
             if '__init__.py' in files}
    assert listed == found | {'gans.configs'}


@pytest.fixture(scope='module')
def wheel_venv(tmp_path_factory):
    """A virtual environment with the dependencies of this machine and only the built wheel of gans."""
    root = tmp_path_factory.mktemp('wheel')
    # Built from a copy: setuptools' build/ left in the checkout would go stale and could carry
    # deleted modules into a later wheel.
    source = root / 'source'
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns('.git', 'build', 'dist', '*.egg-info', '__pycache__',
                                                                 'runs', '.pytest_cache'))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
                    str(root / 'dist'), str(source)], check=True, capture_output=True)
    wheel, = (root / 'dist').glob('gans-*.whl')
    venv = root / 'venv'
    # System site packages give the dependencies without a download; the wheel is installed into
    # the venv, which comes first on its path, so the checkout's editable install is not used.
    subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    subprocess.run([python, '-m', 'pip', 'install', '-q', '--no-deps', '--force-reinstall', str(wheel)], check=True,
                   capture_output=True)
    return python, root


def test_a_wheel_alone_trains_samples_and_evaluates_a_config_by_name(wheel_venv, data_dir):
    python, root = wheel_venv
    work = root / 'elsewhere'  # not the checkout: nothing of it on the path
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    where = subprocess.run([python, '-c', 'import gans, gans.config as c; print(gans.__file__); '
                            'print(c.shipped_configs_dir())'], cwd=work, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert all(path.startswith(str(root / 'venv')) for path in where), where
    gans = [python, '-m', 'gans']
    for args in (['train', '--config=mlp_ring8:tiny', '--workdir=run'],
                 ['sample', '--workdir=run', '--num=64', '--out=s.npz'],
                 ['evaluate', '--samples=s.npz', '--dataset=ring8']):
        result = subprocess.run([*gans, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f'{args}: {result.stderr[-3000:]}'
    assert json.loads(result.stdout.strip().splitlines()[-1])['num_modes'] == 8, result.stdout
