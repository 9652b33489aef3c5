"""Comparing whole states: every leaf of two pytrees equal, named by its path when one is not."""
import jax
import numpy as np


def assert_trees_equal(a, b) -> None:
    """The two pytrees (fetched to the host) have the same structure and bit-equal leaves."""
    a, b = jax.device_get(a), jax.device_get(b)
    for (path, x), (_, y) in zip(jax.tree_util.tree_flatten_with_path(a)[0],
                                 jax.tree_util.tree_flatten_with_path(b)[0], strict=True):
        np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))


def trained_and_resumed(config_name: str, steps: int, stop: int, tmp_path):
    """(state of `steps` uninterrupted steps, state stopped after `stop` and resumed to `steps`) of
    a shipped config in tmp_path/full and tmp_path/resumed, at a constant learning rate (a decay
    spans num_steps, which a resume may then not change)."""
    import shutil

    from gans import config as config_lib
    from gans.engine.loop import train

    def config(num):
        return config_lib.load_config(config_name, [f'num_steps={num}', 'optim.lr_schedule=constant'])

    full = train(config(steps), str(tmp_path / 'full'))
    train(config(stop), str(tmp_path / 'half'))
    shutil.copytree(tmp_path / 'half', tmp_path / 'resumed')
    return full, train(config(steps), str(tmp_path / 'resumed'))
