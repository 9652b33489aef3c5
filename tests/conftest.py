"""Test-wide setup: 8 simulated CPU devices (set before jax is imported) and a shared data dir."""
import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
    """One TFDS data dir for the whole session, so the local datasets are built once."""
    path = str(tmp_path_factory.mktemp('tensorflow_datasets'))
    os.environ['GANS_DATA_DIR'] = path
    return path
