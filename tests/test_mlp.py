"""The MLP networks' options: maxout units in D, batch norm in G, per-player widths."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import config as config_lib
from gans import models
from gans.models.mlp import MLPDiscriminator, MLPGenerator


def test_maxout_unit_is_the_max_of_its_pieces():
    disc = MLPDiscriminator(input_shape=(2,), hidden=(3,), maxout=4)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((5, 2)), jnp.float32)
    params = disc.init(jax.random.key(0), x)['params']
    dense = params['Dense_0']
    assert dense['kernel'].shape == (2, 12)
    pieces = (np.asarray(x) @ np.asarray(dense['kernel']) + np.asarray(dense['bias'])).reshape(5, 3, 4)
    hidden = pieces.max(axis=-1)
    out = params['Dense_1']
    expected = hidden @ np.asarray(out['kernel'])[:, 0] + np.asarray(out['bias'])[0]
    np.testing.assert_allclose(disc.apply({'params': params}, x), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='maxout must be a positive integer'):
        MLPDiscriminator(input_shape=(2,), hidden=(3,), maxout=0).init(jax.random.key(0), x)


def test_generator_batch_norm_normalises_hidden_units_over_the_batch():
    gen = MLPGenerator(output_shape=(2,), hidden=(6,), tanh_output=False, batch_norm=True)
    z = 3.0 + 5.0 * jnp.asarray(np.random.default_rng(1).standard_normal((64, 2)), jnp.float32)
    variables = gen.init(jax.random.key(0), z)
    assert 'batch_stats' in variables
    _, state = gen.apply(variables, z, mutable=['batch_stats', 'intermediates'], capture_intermediates=True)
    pre_relu = state['intermediates']['BatchNorm_0']['__call__'][0]
    np.testing.assert_allclose(pre_relu.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(pre_relu.std(axis=0), 1.0, atol=1e-2)
    # Running statistics moved towards the batch's (Flax momentum 0.9).
    np.testing.assert_allclose(state['batch_stats']['BatchNorm_0']['mean'],
                               0.1 * (np.asarray(z) @ np.asarray(variables['params']['Dense_0']['kernel'])
                                      + np.asarray(variables['params']['Dense_0']['bias'])).mean(axis=0),
                               rtol=1e-4, atol=1e-5)


def test_pacgans_networks_from_the_grid_configs_overrides():
    cfg = config_lib.load_config('experiments/configs/mlp_grid25.py', [
        'gan.latent_dim=2', 'generator.hidden=(400,400,400,400)', 'generator.batch_norm=True',
        'discriminator.hidden=(200,200,200)', 'discriminator.maxout=5'])
    gen, disc = models.build_models(cfg, (2,))
    assert gen.hidden == (400,) * 4 and gen.batch_norm and cfg.gan.latent_dim == 2
    assert disc.hidden == (200,) * 3 and disc.maxout == 5
