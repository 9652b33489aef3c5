"""DCGAN networks: the paper's architecture, written again from Flax's stock layers, must give
the same outputs, batch statistics and gradients; plus shapes, init, batch-norm modes, errors."""
from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator

LATENT = 16


def _normal(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _random_variables(module, example, seed):
    """Variables of `module`'s shapes drawn with NumPy (jitting `init` would compile a PRNG
    draw per parameter); weights ~ N(0, 0.1), batch-norm scales ~ N(1, 0.1), fresh statistics."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), example)

    def draw(path, leaf):
        name = path[-1].key
        if path[0].key == 'batch_stats':
            return jnp.full(leaf.shape, 1.0 if name == 'var' else 0.0)
        value = rng.normal(1.0 if name == 'scale' else 0.0, 0.1, leaf.shape)
        return jnp.asarray(value, jnp.float32)
    return jax.tree_util.tree_map_with_path(draw, shapes)


def _stock_bn(train, name):
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class StockGenerator(nn.Module):
    """Radford et al.'s generator from nn.ConvTranspose (PyTorch-style padding 1 = Flax's 2)."""
    image_size: int
    channels: int
    width: int

    @nn.compact
    def __call__(self, z, train=True):
        stages = int(math.log2(self.image_size // 4))
        features = self.width * 2 ** (stages - 1)
        x = nn.ConvTranspose(features, (4, 4), padding=[(3, 3)] * 2, use_bias=False, name='project')(
            z[:, None, None, :])
        x = nn.relu(_stock_bn(train, 'project_bn')(x))
        for stage in range(1, stages):
            features //= 2
            x = nn.ConvTranspose(features, (4, 4), (2, 2), padding=[(2, 2)] * 2, use_bias=False,
                                 name=f'up{stage}')(x)
            x = nn.relu(_stock_bn(train, f'up{stage}_bn')(x))
        x = nn.ConvTranspose(self.channels, (4, 4), (2, 2), padding=[(2, 2)] * 2, name='to_image')(x)
        return jnp.tanh(x)


class StockDiscriminator(nn.Module):
    image_size: int
    channels: int
    width: int

    @nn.compact
    def __call__(self, x, train=True):
        features = self.width
        for stage in range(int(math.log2(self.image_size // 4))):
            x = nn.Conv(features, (4, 4), (2, 2), padding=[(1, 1)] * 2, use_bias=stage == 0,
                        name=f'down{stage}')(x)
            if stage:
                x = _stock_bn(train, f'down{stage}_bn')(x)
            x = nn.leaky_relu(x, 0.2)
            features *= 2
        return nn.Conv(1, (4, 4), padding='VALID', name='to_logit')(x).reshape(-1)


def _train_apply(module, variables, inputs):
    return module.apply(variables, inputs, train=True, mutable=['batch_stats'])


def _assert_trees_close(a, b, rtol=1e-4):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        np.testing.assert_allclose(x, y, rtol=0, atol=rtol * (np.abs(y).max() or 1.0))


@pytest.mark.parametrize('image_size', [32])  # every layer kind, and the up/down loops twice
def test_networks_match_stock_flax_architecture(image_size):
    ours_g, ours_d = DCGANGenerator(image_size, 3, 4), DCGANDiscriminator(image_size, 3, 4)
    stock_g, stock_d = StockGenerator(image_size, 3, 4), StockDiscriminator(image_size, 3, 4)
    z, images = _normal((3, LATENT), 0), _normal((3, image_size, image_size, 3), 1)
    g_vars, d_vars = _random_variables(ours_g, z, 0), _random_variables(ours_d, images, 1)
    # Same variable tree: the stock network accepts ours unchanged.
    assert jax.tree.structure(jax.eval_shape(stock_g.init, jax.random.PRNGKey(0), z)) == jax.tree.structure(g_vars)
    assert jax.tree.structure(jax.eval_shape(stock_d.init, jax.random.PRNGKey(1), images)) == jax.tree.structure(d_vars)

    def losses(g_module, d_module):
        def loss(g_params, d_params):
            fake, g_stats = _train_apply(g_module, {**g_vars, 'params': g_params}, z)
            logits, d_stats = _train_apply(d_module, {**d_vars, 'params': d_params}, fake)
            return jnp.sum(jnp.sin(logits)), (fake, logits, g_stats, d_stats)
        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(g_vars['params'], d_vars['params'])

    _assert_trees_close(losses(ours_g, ours_d), losses(stock_g, stock_d))


@pytest.mark.parametrize('image_size,channels', [(16, 1), (32, 3), (64, 1)])
def test_output_shapes(image_size, channels):
    generator, discriminator = DCGANGenerator(image_size, channels, 4), DCGANDiscriminator(image_size, channels, 4)
    z = jnp.zeros((3, LATENT))
    g_vars = jax.eval_shape(generator.init, jax.random.PRNGKey(0), z)
    images = jax.eval_shape(lambda v: generator.apply(v, z, train=False), g_vars)
    assert images.shape == (3, image_size, image_size, channels)
    d_vars = jax.eval_shape(discriminator.init, jax.random.PRNGKey(1), images)
    assert jax.eval_shape(lambda v: discriminator.apply(v, images, train=False), d_vars).shape == (3,)


def test_generator_output_is_tanh_of_last_layer():
    generator = DCGANGenerator(16, 3, 4)
    z = _normal((8, LATENT), 2)
    variables = _random_variables(generator, z, 4)
    variables['params']['to_image']['kernel'] *= 30.0  # push tanh into saturation
    images, state = jax.jit(lambda v: generator.apply(
        v, z, mutable=['batch_stats', 'intermediates'], capture_intermediates=True))(variables)
    pre_activation = state['intermediates']['to_image']['__call__'][0]
    np.testing.assert_allclose(images, np.tanh(np.asarray(pre_activation)), atol=1e-6)
    assert float(jnp.max(jnp.abs(images))) <= 1.0 and float(jnp.max(jnp.abs(pre_activation))) > 3.0


def test_parameters_follow_dcgan_guidelines():
    g_params = jax.eval_shape(DCGANGenerator(64, 3, 8).init, jax.random.PRNGKey(0), jnp.zeros((1, LATENT)))['params']
    d_params = jax.eval_shape(DCGANDiscriminator(64, 3, 8).init, jax.random.PRNGKey(0),
                              jnp.zeros((1, 64, 64, 3)))['params']
    shapes = {name: layer['kernel'].shape for name, layer in {**g_params, **d_params}.items() if 'kernel' in layer}
    # Channels double at each halving of resolution; every weight is a 4x4 conv (no dense layers).
    assert shapes == {
        'project': (4, 4, LATENT, 64), 'up1': (4, 4, 64, 32), 'up2': (4, 4, 32, 16), 'up3': (4, 4, 16, 8),
        'to_image': (4, 4, 8, 3),
        'down0': (4, 4, 3, 8), 'down1': (4, 4, 8, 16), 'down2': (4, 4, 16, 32), 'down3': (4, 4, 32, 64),
        'to_logit': (4, 4, 64, 1)}
    # Batch norm everywhere except G's output layer and D's first and last layers.
    assert sorted(n for n in g_params if n.endswith('_bn')) == ['project_bn', 'up1_bn', 'up2_bn', 'up3_bn']
    assert sorted(n for n in d_params if n.endswith('_bn')) == ['down1_bn', 'down2_bn', 'down3_bn']


def test_initialisation_statistics():
    # The 'rbg' key compiles far faster than threefry on CPU; the draws are the same distribution.
    g_params = jax.jit(DCGANGenerator(32, 3, 64).init)(jax.random.key(0, impl='rbg'), jnp.zeros((1, 100)))['params']
    kernel = np.asarray(g_params['up1']['kernel'])  # 4*4*256*128 draws
    assert abs(kernel.mean()) < 1e-3 and abs(kernel.std() - 0.02) < 1e-3
    scale = np.asarray(g_params['project_bn']['scale'])  # 256 draws of N(1, 0.02)
    assert abs(scale.mean() - 1.0) < 0.01 and 0.01 < scale.std() < 0.03
    assert not np.any(np.asarray(g_params['to_image']['bias']))


def test_batch_norm_modes_and_running_statistics():
    discriminator = DCGANDiscriminator(16, 1, 4)
    images = _normal((6, 16, 16, 1), 3)
    variables = _random_variables(discriminator, images, 5)

    @functools.partial(jax.jit, static_argnames='train')
    def logits(x, train):
        return discriminator.apply(variables, x, train=train, mutable=['batch_stats'])[0]
    # Eval mode uses running statistics: an example's logit ignores the rest of the batch;
    # train mode normalises with the batch's own statistics, so it does not.
    np.testing.assert_allclose(logits(images, False)[:1], logits(images[:1], False), rtol=1e-4)
    assert not np.allclose(logits(images, True)[:1], logits(images[:3], True)[:1], rtol=1e-3)

    # One train step moves the running averages 10% of the way to the batch statistics.
    _, state = jax.jit(lambda v: discriminator.apply(v, images, train=True, capture_intermediates=True,
                                                     mutable=['batch_stats', 'intermediates']))(variables)
    conv_out = state['intermediates']['down1']['__call__'][0]
    new = state['batch_stats']['down1_bn']
    np.testing.assert_allclose(new['mean'], 0.1 * conv_out.mean((0, 1, 2)), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(new['var'], 0.9 + 0.1 * conv_out.var((0, 1, 2)), rtol=1e-4)


@pytest.mark.parametrize('build,message', [
    (lambda: DCGANGenerator(28).init(jax.random.PRNGKey(0), jnp.zeros((1, 8))), r'image_size .*\(16, 32, 64\)'),
    (lambda: DCGANGenerator(32).init(jax.random.PRNGKey(0), jnp.zeros((1, 1, 8))), r'\[N, latent\]'),
    (lambda: DCGANGenerator(32, width=0).init(jax.random.PRNGKey(0), jnp.zeros((1, 8))), 'width'),
    (lambda: DCGANDiscriminator(32, 3).init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1))),
     r'\[N, 32, 32, 3\], got \(1, 32, 32, 1\)'),
    (lambda: DCGANDiscriminator(64, 1).init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1))),
     r'\[N, 64, 64, 1\], got \(1, 32, 32, 1\)'),
])
def test_bad_configuration_or_input_raises(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_generator_without_batch_norm_has_biases_and_no_statistics():
    gen = DCGANGenerator(image_size=16, channels=1, width=8, batch_norm=False)
    z = jnp.asarray(np.random.default_rng(0).standard_normal((3, 10)), jnp.float32)
    variables = gen.init(jax.random.key(0), z)
    assert 'batch_stats' not in variables
    assert all('bias' in variables['params'][name] for name in ('project', 'up1', 'to_image'))
    assert not any(name.endswith('_bn') for name in variables['params'])
    images = gen.apply(variables, z)
    # Without batch norm each image depends on its own latent only.
    np.testing.assert_allclose(gen.apply(variables, z[:1]), images[:1], rtol=1e-5, atol=1e-6)
    assert images.shape == (3, 16, 16, 1) and float(jnp.abs(images).max()) < 1
