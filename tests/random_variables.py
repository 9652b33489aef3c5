"""Variables of a network's shapes drawn with NumPy, for tests that compare networks (no PRNG
compile per parameter, and the same numbers load into the PyTorch twins)."""
import jax
import jax.numpy as jnp
import numpy as np


def random_variables(init, seed):
    """`init`'s variables redrawn: kernels ~ N(0, 1 / fan_in), so activations stay O(1) even in
    eval mode; norm scales ~ N(1, 0.1); biases and running means ~ N(0, 0.1); running variances
    ~ U(0.5, 1.5). `init` is a thunk returning the variables (only its shapes are used)."""
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = path[-1].key
        if name == 'var':
            value = rng.uniform(0.5, 1.5, leaf.shape)
        elif name == 'kernel':
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(leaf.shape[:3])), leaf.shape)
        else:
            value = rng.normal(1.0 if name == 'scale' else 0.0, 0.1, leaf.shape)
        return jnp.asarray(value, jnp.float32)
    return jax.tree_util.tree_map_with_path(draw, jax.eval_shape(init))
