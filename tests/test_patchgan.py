"""pix2pix PatchGAN discriminator: receptive field (formula and the measured support of one
logit's input gradient), the logit grid, the paper's 70x70 layer table, pair judging,
swappable conv classes, errors, and agreement with the independent PyTorch twin."""
from __future__ import annotations

import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.models.patchgan import PatchGANDiscriminator, output_size, receptive_field
from random_variables import random_variables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # experiments/ is not an installed package
    sys.path.insert(0, ROOT)


def _uniform(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1.0, 1.0, shape), jnp.float32)


def _random_variables(module, source, image, seed):
    return random_variables(lambda: module.init(jax.random.key(0), source, image, train=False), seed)


def test_receptive_field_values():
    # The recurrence from r = 1 through (k, s) = (4, 1), (4, 1), then n x (4, 2):
    # r -> 2 (r - 1) + 4 per stride-2 layer, i.e. 9 * 2^n - 2.
    assert [receptive_field(n) for n in range(5)] == [7, 16, 34, 70, 142]
    assert all(receptive_field(n) == 9 * 2 ** n - 2 for n in range(8))
    with pytest.raises(ValueError, match='num_layers must be >= 0'):
        receptive_field(-1)


@pytest.mark.parametrize('num_layers,size,norm', [(0, 16, 'none'), (1, 32, 'none'), (2, 64, 'none'),
                                                  (3, 128, 'none'), (1, 32, 'batch')])
def test_one_logit_sees_exactly_its_receptive_field(num_layers, size, norm):
    # norm='none' (or batch norm in eval mode, an affine map): train-mode batch statistics are
    # means over every example and position, and instance norm's over every position, so
    # through them each logit would depend on every pixel and the gradient would show no window.
    discriminator = PatchGANDiscriminator(num_layers=num_layers, width=4, norm=norm)
    source, image = _uniform((1, size, size, 2), 0), _uniform((1, size, size, 1), 1)
    variables = _random_variables(discriminator, source, image, 2)
    grid = output_size(size, num_layers)
    centre = grid // 2

    def centre_logit(s, x):
        return discriminator.apply(variables, s, x, train=False)[0, centre, centre]
    grads = jax.jit(jax.grad(centre_logit, argnums=(0, 1)))(source, image)
    support = np.any(np.concatenate([np.asarray(g[0]) for g in grads], axis=-1) != 0, axis=-1)
    field = receptive_field(num_layers)
    # Logit o reads the window starting at o * 2^n minus the padding the layers add in input pixels:
    # 1 + 2 + ... + 2^(n-1) for the stride-2 convs and 2^n for each stride-1 conv.
    start = centre * 2 ** num_layers - (2 ** num_layers - 1 + 2 * 2 ** num_layers)
    assert 0 <= start and start + field <= size  # the window lies inside the image: no padding in it
    expected = np.zeros((size, size), bool)
    expected[start:start + field, start:start + field] = True
    # Every pixel of the window (its edges included: the bound is tight) and none outside.
    np.testing.assert_array_equal(support, expected)


@pytest.mark.parametrize('size,num_layers,grid', [(256, 3, 30), (32, 1, 14), (32, 2, 6), (32, 3, 2),
                                                  (64, 3, 6), (70, 3, 6), (16, 0, 14), (48, 2, 10)])
def test_output_grid(size, num_layers, grid):
    discriminator = PatchGANDiscriminator(num_layers=num_layers, width=4)
    source, image = jnp.zeros((2, size, size, 3)), jnp.zeros((2, size, size, 3))
    variables = jax.eval_shape(lambda: discriminator.init(jax.random.key(0), source, image))
    logits, _ = jax.eval_shape(lambda v: discriminator.apply(v, source, image, mutable=['batch_stats']), variables)
    assert output_size(size, num_layers) == grid
    assert logits.shape == (2, grid, grid) and logits.dtype == jnp.float32


def test_layers_follow_the_paper():
    discriminator = PatchGANDiscriminator()  # the 70x70 PatchGAN
    x = jnp.zeros((1, 256, 256, 3))
    params = jax.eval_shape(lambda: discriminator.init(jax.random.key(0), x, x))['params']
    assert {name: layer['kernel'].shape for name, layer in params.items() if 'kernel' in layer} == {
        'conv0': (4, 4, 6, 64), 'conv1': (4, 4, 64, 128), 'conv2': (4, 4, 128, 256),
        'conv3': (4, 4, 256, 512), 'to_logit': (4, 4, 512, 1)}
    assert sorted(name for name in params if name.endswith('_norm')) == [f'conv{l}_norm' for l in (1, 2, 3)]
    # 2,768,705 parameters, the reference implementation's count for input_nc = 6.
    assert sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params)) == 2_768_705


def test_judges_the_pair():
    discriminator = PatchGANDiscriminator(num_layers=1, width=8)
    source, image = _uniform((2, 32, 32, 3), 0), _uniform((2, 32, 32, 3), 1)
    variables = _random_variables(discriminator, source, image, 2)
    judge = jax.jit(lambda s, x: discriminator.apply(variables, s, x, train=False))
    logits = np.asarray(judge(source, image))
    other_source = np.asarray(judge(_uniform((2, 32, 32, 3), 3), image))
    other_image = np.asarray(judge(source, _uniform((2, 32, 32, 3), 4)))
    # Every patch's logit moves with the source, and with the image.
    assert np.all(np.abs(other_source - logits) > 1e-6) and np.all(np.abs(other_image - logits) > 1e-6)
    # The source comes first in the concatenation: swapping the two is another pair.
    assert not np.allclose(np.asarray(judge(image, source)), logits)


def _stock_conv(features, kernel_size, strides, padding, use_bias, kernel_init, dtype, name):
    return nn.Conv(features, (kernel_size,) * 2, (strides,) * 2, padding=[(padding, padding)] * 2,
                   use_bias=use_bias, kernel_init=kernel_init, dtype=dtype, name=name)


@pytest.mark.parametrize('norm', ['batch', 'instance'])
def test_conv_class_is_swappable(norm):
    ours = PatchGANDiscriminator(num_layers=2, width=4, norm=norm)
    source, image = _uniform((3, 32, 32, 2), 0), _uniform((3, 32, 32, 1), 1)
    variables = _random_variables(ours, source, image, 2)
    run = [jax.jit(lambda v, d=d: d.apply(v, source, image, mutable=['batch_stats']))(variables)
           for d in (ours, ours.clone(conv=_stock_conv))]
    np.testing.assert_allclose(run[0][0], run[1][0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('fields,shapes,message', [
    ({}, [(1, 32, 32, 3), (1, 32, 16, 3)], r'same N, H, W, got \(1, 32, 32, 3\) and \(1, 32, 16, 3\)'),
    ({}, [(32, 32, 3), (32, 32, 3)], r'\[N, H, W, C_s\]'),
    ({'num_layers': 3}, [(1, 16, 16, 3)] * 2, 'num_layers=3 needs inputs of at least 24x24 pixels, '
                                              'got 16x16'),
    ({'num_layers': -1}, [(1, 32, 32, 3)] * 2, 'num_layers must be >= 0'),
    ({'norm': 'layer'}, [(1, 32, 32, 3)] * 2, 'norm must be one of'),
    ({'width': 0}, [(1, 32, 32, 3)] * 2, 'width'),
])
def test_bad_input_or_configuration_raises(fields, shapes, message):
    with pytest.raises(ValueError, match=message):
        PatchGANDiscriminator(**fields).init(jax.random.key(0), *(jnp.zeros(s) for s in shapes))


# ---------------------------------------------------------------- PyTorch twin

def _nchw(x):
    import torch
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


@pytest.mark.parametrize('size,num_layers,norm', [(32, 1, 'batch'), (32, 2, 'batch'), (64, 3, 'batch'),
                                                  (32, 2, 'instance')])
def test_matches_pytorch_twin(size, num_layers, norm):
    torch = pytest.importorskip('torch')
    from experiments.bench import torch_pix2pix

    batch = 4
    discriminator = PatchGANDiscriminator(num_layers=num_layers, width=8, norm=norm)
    source, image = _uniform((batch, size, size, 3), 0), _uniform((batch, size, size, 2), 1)
    variables = _random_variables(discriminator, source, image, 2)
    twin = torch_pix2pix.TorchPatchGANDiscriminator(5, num_layers=num_layers, width=8, norm=norm)
    torch_pix2pix.load_flax_variables(twin, variables)
    grid = output_size(size, num_layers)
    weights = _uniform((batch, grid, grid), 3)

    def loss(params, source, image):
        logits, state = discriminator.apply({**variables, 'params': params}, source, image,
                                            mutable=['batch_stats'])
        return jnp.sum(logits * weights), (logits, state)
    (_, (logits, state)), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(
        variables['params'], source, image)

    twin.train()
    torch_source, torch_image = _nchw(source).requires_grad_(), _nchw(image).requires_grad_()
    torch_logits = twin(torch_source, torch_image)
    (torch_logits * torch.from_numpy(np.array(weights))).sum().backward()
    scale = np.abs(np.asarray(logits)).max()
    np.testing.assert_allclose(torch_logits.detach().numpy(), logits, rtol=0, atol=1e-5 * max(scale, 1.0))
    torch_grads = torch_pix2pix.flax_layout(twin, grads=True)
    for path, ours in jax.tree_util.tree_leaves_with_path(grads[0]):
        theirs = torch_grads[path[0].key][path[1].key]
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * np.abs(theirs).max(),
                                   err_msg=jax.tree_util.keystr(path))
    for ours, theirs in zip(grads[1:], (torch_source, torch_image)):  # the generator's gradient path
        theirs = theirs.grad.numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * np.abs(theirs).max())
    for name, stats in state.get('batch_stats', {}).items():
        np.testing.assert_allclose(twin.layers[name].running_mean.numpy(), stats['mean'],
                                   rtol=1e-4, atol=1e-6)

    # Eval mode: running averages (batch norm; those from before the step) or, for instance
    # norm, each example's own statistics as in train mode.
    torch_pix2pix.load_flax_variables(twin, variables)
    twin.eval()
    with torch.no_grad():
        torch_eval = twin(_nchw(source), _nchw(image)).numpy()
    ours_eval = np.asarray(jax.jit(lambda v: discriminator.apply(v, source, image, train=False))(variables))
    np.testing.assert_allclose(torch_eval, ours_eval, rtol=0, atol=1e-5 * max(np.abs(ours_eval).max(), 1.0))
