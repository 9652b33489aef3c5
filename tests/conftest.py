"""Test-wide setup: 8 simulated CPU devices (set before jax is imported), a shared data dir, and
a compilation cache for the session."""
import os
import tempfile

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# Many tests build the same programs (the CLI tests each rebuild a run's step and sampler);
# a cache private to this session compiles each once. Subprocesses, and pytest-xdist's workers
# (started from the controller after this runs), inherit it.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', tempfile.mkdtemp(prefix='gans-test-jax-cache-'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.2')

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
    """One TFDS data dir for the whole session, so the local datasets are built once; under
    pytest-xdist the workers share it (gans.data builds a dataset under a file lock, once)."""
    if os.environ.get('PYTEST_XDIST_WORKER'):
        path = tmp_path_factory.getbasetemp().parent / 'tensorflow_datasets'
        path.mkdir(exist_ok=True)
        path = str(path)
    else:
        path = str(tmp_path_factory.mktemp('tensorflow_datasets'))
    os.environ['GANS_DATA_DIR'] = path
    return path
