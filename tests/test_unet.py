"""pix2pix U-Net generator: shapes and range, the paper's layer table, skip wiring (which
source pixels each output pixel depends on when the deeper encoder is cut), parameter
counts, dropout as test-time noise, swappable conv classes, errors, and agreement with
the independent PyTorch twin (outputs, batch statistics and gradients)."""
from __future__ import annotations

import functools
import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.models.unet import UNetGenerator, encoder_widths, num_down_layers
from random_variables import random_variables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # experiments/ is not an installed package
    sys.path.insert(0, ROOT)



def _key(seed):
    # The 'rbg' PRNG compiles far faster than threefry on CPU (dropout masks dominate compile time).
    return jax.random.key(seed, impl='rbg')


RNGS = {'params': _key(0), 'dropout': _key(1)}


def _uniform(shape, seed, low=-1.0, high=1.0):
    return jnp.asarray(np.random.default_rng(seed).uniform(low, high, shape), jnp.float32)


def _random_variables(module, source, seed):
    return random_variables(lambda: module.init(RNGS, source, train=False), seed)


def _count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize('size,in_channels,channels', [(16, 1, 1), (32, 3, 3), (64, 3, 1), (32, 1, 3)])
def test_output_shape_and_range(size, in_channels, channels):
    generator = UNetGenerator(channels=channels, width=4)
    source = _uniform((2, size, size, in_channels), 0)
    variables = _random_variables(generator, source, 1)
    variables['params']['to_image']['kernel'] *= 50.0  # drive tanh into saturation
    images, state = jax.jit(lambda v: generator.apply(
        v, source, rngs={'dropout': _key(2)}, mutable=['batch_stats', 'intermediates'],
        capture_intermediates=lambda module, _: module.name == 'to_image'))(variables)
    assert images.shape == (2, size, size, channels) and images.dtype == jnp.float32
    pre_activation = np.asarray(state['intermediates']['to_image']['__call__'][0])
    np.testing.assert_allclose(images, np.tanh(pre_activation), atol=1e-6)
    assert np.abs(images).max() <= 1.0 and np.abs(pre_activation).max() > 3.0


def test_layers_follow_the_paper_at_256px():
    params = jax.eval_shape(lambda: UNetGenerator().init(RNGS, jnp.zeros((1, 256, 256, 3))))['params']
    assert num_down_layers(256) == 8 and encoder_widths(256) == (64, 128, 256, 512, 512, 512, 512, 512)
    kernels = {name: layer['kernel'].shape[2:] for name, layer in params.items() if 'kernel' in layer}
    # Encoder C64-C128-C256-C512-C512-C512-C512-C512; decoder inputs (after the skip
    # concatenations) 512-1024-1024-1024-1024-512-256-128, as the paper's U-Net table.
    assert kernels == {
        'down0': (3, 64), 'down1': (64, 128), 'down2': (128, 256), 'down3': (256, 512),
        'down4': (512, 512), 'down5': (512, 512), 'down6': (512, 512), 'down7': (512, 512),
        'up6': (512, 512), 'up5': (1024, 512), 'up4': (1024, 512), 'up3': (1024, 512),
        'up2': (1024, 256), 'up1': (512, 128), 'up0': (256, 64), 'to_image': (128, 3)}
    assert all(layer['kernel'].shape[:2] == (4, 4) for layer in params.values() if 'kernel' in layer)
    # Norm everywhere but the first encoder layer, the 1x1 bottleneck and the output.
    norms = {name[:-len('_norm')] for name in params if name.endswith('_norm')}
    assert norms == {f'down{i}' for i in range(1, 7)} | {f'up{i}' for i in range(7)}
    assert {name for name, layer in params.items() if 'bias' in layer and 'kernel' in layer} == {
        'down0', 'down7', 'to_image'}


def _expected_parameters(size, in_channels, channels, width, skips):
    """The architecture's parameter count, layer by layer (norm = batch)."""
    w = encoder_widths(size, width)
    depth = len(w)
    total = 16 * in_channels * w[0] + w[0]  # down0 with bias
    total += sum(16 * w[i - 1] * w[i] + 2 * w[i] for i in range(1, depth - 1))  # conv + scale, bias
    total += 16 * w[-2] * w[-1] + w[-1]  # bottleneck with bias
    for i in range(depth - 2, -1, -1):  # up{i}: from up{i+1} (plus the skip of down{i+1})
        fan_in = w[i + 1] * (2 if skips and i < depth - 2 else 1)
        total += 16 * fan_in * w[i] + 2 * w[i]
    total += 16 * w[0] * (2 if skips else 1) * channels + channels
    return total


@pytest.mark.parametrize('size,width', [(16, 8), (32, 64), (64, 32), (256, 64)])
def test_parameter_counts_with_and_without_skips(size, width):
    counts = {}
    for skips in (True, False):
        generator = UNetGenerator(channels=3, width=width, skips=skips)
        params = jax.eval_shape(lambda: generator.init(RNGS, jnp.zeros((1, size, size, 3))))['params']
        counts[skips] = _count(params)
        assert counts[skips] == _expected_parameters(size, 3, 3, width, skips)
    # The skips only widen the inputs of the decoder convs after the first one.
    w = encoder_widths(size, width)
    assert counts[True] - counts[False] == 16 * (sum(w[i + 1] * w[i] for i in range(len(w) - 2)) + w[0] * 3)


# ---------------------------------------------------------------- skip wiring

def _input_rows_of_conv(rows, in_size):
    """Input rows a 4x4 stride-2 padding-1 conv reads for output rows `rows`."""
    return {r for o in rows for r in range(2 * o - 1, 2 * o + 3) if 0 <= r < in_size}


def _input_rows_of_transposed(rows, in_size):
    """Input rows a 4x4 stride-2 padding-1 transposed conv adds into output rows `rows`."""
    return {m for y in rows for m in range(in_size) if 0 <= y + 1 - 2 * m <= 3}


def _expected_support(size, pixel, deepest_skip):
    """Source pixels that output `pixel` depends on when only the skips of down0..down{j},
    j = deepest_skip, carry the source: skip j joins after up{j}, so its path is down0..down{j},
    then up{j-1}..up0 and to_image (j + 1 transposed convs)."""
    mask = np.zeros((size, size), bool)
    for j in range(deepest_skip + 1):
        axes = []
        for start in pixel:
            rows = {start}
            for level in range(j + 1):  # to_image, up0, ..., up{j-1}: inputs of size S / 2^(level+1)
                rows = _input_rows_of_transposed(rows, size >> (level + 1))
            for level in range(j, -1, -1):  # down{j}, ..., down0: inputs of size S / 2^level
                rows = _input_rows_of_conv(rows, size >> level)
            axes.append(np.isin(np.arange(size), sorted(rows)))
        mask |= np.outer(*axes)
    return mask


def _positive_variables(generator, source):
    """Positive kernels scaled by fan-in and zero biases: with a positive source every unit is
    positive, so no ReLU is off and no sum cancels; the source gradient is then non-zero
    exactly on the pixels some path connects to the output."""
    rng = np.random.default_rng(0)
    shapes = jax.eval_shape(lambda: generator.init(RNGS, source, train=False))['params']

    def draw(path, leaf):
        if path[-1].key != 'kernel':
            return jnp.zeros(leaf.shape, jnp.float32)
        taps = 16 if path[0].key.startswith('down') else 4  # a transposed conv's output meets 4 taps
        return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape) / (taps * leaf.shape[2]), jnp.float32)
    return {'params': jax.tree_util.tree_map_with_path(draw, shapes)}


@pytest.mark.parametrize('skips', [True, False])
def test_skips_connect_each_encoder_layer_to_its_mirror(skips):
    size = 32
    generator = UNetGenerator(channels=1, width=4, norm='none', test_dropout=False, skips=skips)
    source = _uniform((1, size, size, 1), 0, 0.1, 1.0)
    variables = _positive_variables(generator, source)
    depth = num_down_layers(size)

    @jax.jit
    def source_gradient(params, pixel):
        def output_pixel(x):
            return generator.apply({'params': params}, x, train=False)[0, pixel[0], pixel[1], 0]
        return jax.grad(output_pixel)(source)[0, :, :, 0]

    # Uncut, the bottleneck makes every output pixel depend on every source pixel.
    assert np.all(np.asarray(source_gradient(variables['params'], jnp.array([13, 6]))) > 0)
    for deepest_skip in range(depth - 1):
        # Zeroing down{j+1} cuts the source off everything deeper than down{j}: only the
        # skips of down0..down{j} still carry it, each along its own mirrored path.
        params = dict(variables['params'])
        params[f'down{deepest_skip + 1}'] = jax.tree.map(jnp.zeros_like, params[f'down{deepest_skip + 1}'])
        for pixel in [(13, 6), (0, 31)]:
            grad = np.asarray(source_gradient(params, jnp.array(pixel)))
            assert np.all(grad >= 0)
            if skips:
                np.testing.assert_array_equal(grad > 0, _expected_support(size, pixel, deepest_skip),
                                              err_msg=f'down{deepest_skip + 1} cut, output pixel {pixel}')
            else:  # the encoder-decoder has no way around the cut
                assert not grad.any()


# ---------------------------------------------------------------- dropout

def _dropout_layers(generator, variables, source):
    _, state = jax.eval_shape(lambda: generator.apply(
        variables, source, train=False, rngs={'dropout': _key(0)}, mutable=['intermediates'],
        capture_intermediates=lambda module, _: isinstance(module, nn.Dropout)))
    return sorted(state.get('intermediates', {}))


def test_dropout_is_test_time_noise_on_the_first_decoder_layers():
    source = _uniform((2, 32, 32, 3), 0)
    noisy = UNetGenerator(channels=3, width=4, norm='none')
    variables = _random_variables(noisy, source, 1)

    @functools.partial(jax.jit, static_argnums=(0, 2))
    def apply(generator, key, train):
        return generator.apply(variables, source, train=train, rngs=None if key is None else {'dropout': key})

    def run(generator, seed, train=False):
        return np.asarray(apply(generator, None if seed is None else _key(seed), train))

    # test_dropout=True: dropout at train=False too; the key decides the output.
    assert not np.allclose(run(noisy, 1), run(noisy, 2))
    np.testing.assert_array_equal(run(noisy, 1), run(noisy, 1))
    # test_dropout=False: deterministic at train=False, whatever the key (none needed).
    clean = noisy.clone(test_dropout=False)
    np.testing.assert_array_equal(run(clean, 1), run(clean, 2))
    np.testing.assert_array_equal(run(clean, 1), run(clean, None))
    assert not np.allclose(run(clean, 1, train=True), run(clean, 2, train=True))
    with pytest.raises(ValueError, match="rngs=\\{'dropout': key\\}"):
        run(noisy, None)

    # Placement: the first num_dropout decoder layers from the bottleneck up, clamped.
    assert _dropout_layers(noisy, variables, source) == ['up1_dropout', 'up2_dropout', 'up3_dropout']
    small = _uniform((1, 16, 16, 3), 0)
    assert _dropout_layers(UNetGenerator(channels=3, width=4, num_dropout=10), _random_variables(
        UNetGenerator(channels=3, width=4), small, 1), small) == ['up0_dropout', 'up1_dropout', 'up2_dropout']
    assert _dropout_layers(noisy.clone(num_dropout=0), variables, source) == []


# ---------------------------------------------------------------- configuration

def _stock_conv(features, kernel_size, strides, padding, use_bias, kernel_init, dtype, name):
    return nn.Conv(features, (kernel_size,) * 2, (strides,) * 2, padding=[(padding, padding)] * 2,
                   use_bias=use_bias, kernel_init=kernel_init, dtype=dtype, name=name)


def _stock_conv_transpose(features, kernel_size, strides, padding, use_bias, kernel_init, dtype, name):
    # PyTorch's padding p crops p from each side: Flax's padding is k - 1 - p.
    edge = kernel_size - 1 - padding
    return nn.ConvTranspose(features, (kernel_size,) * 2, (strides,) * 2, padding=[(edge, edge)] * 2,
                            use_bias=use_bias, kernel_init=kernel_init, dtype=dtype, name=name)


@pytest.mark.parametrize('norm', ['batch', 'instance'])
def test_conv_classes_are_swappable(norm):
    ours = UNetGenerator(channels=3, width=4, norm=norm, test_dropout=False, num_dropout=0)
    stock = ours.clone(conv=_stock_conv, conv_transpose=_stock_conv_transpose)
    source = _uniform((3, 32, 32, 3), 0)
    variables = _random_variables(ours, source, 1)

    def run(generator):
        return jax.jit(lambda v: generator.apply(v, source, mutable=['batch_stats']))(variables)
    (out_ours, stats_ours), (out_stock, stats_stock) = run(ours), run(stock)
    np.testing.assert_allclose(out_ours, out_stock, atol=2e-5)
    for a, b in zip(jax.tree.leaves(stats_ours), jax.tree.leaves(stats_stock), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_bfloat16_computation_keeps_float32_parameters_and_output():
    source = _uniform((2, 16, 16, 3), 0)
    generator = UNetGenerator(channels=3, width=4, test_dropout=False, num_dropout=0)
    variables = _random_variables(generator, source, 1)
    out32, out16 = (jax.jit(lambda v: g.apply(v, source, train=False))(variables)
                    for g in (generator, generator.clone(dtype=jnp.bfloat16)))
    assert out16.dtype == jnp.float32
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(
        jax.eval_shape(lambda: generator.clone(dtype=jnp.bfloat16).init(RNGS, source))))
    np.testing.assert_allclose(out16, out32, atol=0.05)


@pytest.mark.parametrize('shape,message', [
    ((1, 48, 48, 3), r'S in \(16, 32, 64, 128, 256\), got shape \(1, 48, 48, 3\)'),
    ((1, 8, 8, 3), r'got shape \(1, 8, 8, 3\)'),
    ((1, 512, 512, 3), r'got shape \(1, 512, 512, 3\)'),
    ((1, 32, 64, 3), r'square source images'),
    ((32, 32, 3), r'\[N, S, S, C\]'),
])
def test_bad_input_size_raises(shape, message):
    with pytest.raises(ValueError, match=message):
        UNetGenerator().init(RNGS, jnp.zeros(shape))


@pytest.mark.parametrize('fields,message', [
    ({'norm': 'group'}, r"norm must be one of \('batch', 'instance', 'none'\)"),
    ({'width': 0}, 'width'),
    ({'num_dropout': -1}, 'num_dropout'),
])
def test_bad_configuration_raises(fields, message):
    with pytest.raises(ValueError, match=message):
        UNetGenerator(**fields).init(RNGS, jnp.zeros((1, 16, 16, 3)))


def test_num_down_layers_rejects_unsupported_sizes():
    assert [num_down_layers(s) for s in (16, 32, 64, 128, 256)] == [4, 5, 6, 7, 8]
    with pytest.raises(ValueError, match='got 100'):
        num_down_layers(100)


def test_initialisation_follows_the_reference():
    generator = UNetGenerator(channels=3, width=32)
    params = jax.jit(lambda k: generator.init({'params': k, 'dropout': k}, jnp.zeros((1, 32, 32, 3))))(
        _key(0))['params']
    kernel = np.asarray(params['up1']['kernel'])  # 4 * 4 * 256 * 64 draws of N(0, 0.02)
    assert abs(kernel.mean()) < 1e-3 and abs(kernel.std() - 0.02) < 1e-3
    scale = np.asarray(params['up1_norm']['scale'])  # 64 draws of N(1, 0.02)
    assert abs(scale.mean() - 1.0) < 0.01 and 0.01 < scale.std() < 0.03
    assert not any(np.any(np.asarray(layer['bias'])) for layer in params.values() if 'bias' in layer)


# ---------------------------------------------------------------- PyTorch twin

def _nchw(x):
    import torch
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def _assert_trees_close(ours, theirs, rtol):
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    for path, a in jax.tree_util.tree_leaves_with_path(ours):
        b = np.asarray(theirs[path[0].key][path[1].key])
        np.testing.assert_allclose(np.asarray(a), b, rtol=0, atol=rtol * (np.abs(b).max() or 1.0),
                                   err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize('size,norm,skips', [(32, 'batch', True), (64, 'batch', True),
                                             (32, 'instance', True), (32, 'batch', False)])
def test_matches_pytorch_twin(size, norm, skips):
    torch = pytest.importorskip('torch')
    from experiments.bench import torch_pix2pix

    in_channels, channels, batch = 3, 2, 4
    generator = UNetGenerator(channels=channels, width=4, norm=norm, skips=skips)
    source = _uniform((batch, size, size, in_channels), 0)
    variables = _random_variables(generator, source, 1)
    twin = torch_pix2pix.TorchUNetGenerator(size, in_channels, channels, width=4, norm=norm, skips=skips)
    torch_pix2pix.load_flax_variables(twin, variables)
    weights = _uniform((batch, size, size, channels), 2)  # a loss that weighs every output
    key = _key(3)

    def loss(params):
        out, state = generator.apply({**variables, 'params': params}, source, train=True,
                                     rngs={'dropout': key}, mutable=['batch_stats', 'intermediates'],
                                     capture_intermediates=lambda module, _: isinstance(module, nn.Dropout))
        return jnp.sum(out * weights), (out, state)
    (_, (out, state)), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables['params'])
    # The twin reuses Flax's dropout masks (read off the dropout outputs: x / 0.5 or 0).
    masks = {name[:-len('_dropout')]: _nchw(values['__call__'][0] != 0)
             for name, values in state['intermediates'].items()}
    assert len(masks) == 3

    # Train mode: batch statistics, dropout on, the same masks.
    twin.train()
    torch_out = twin(_nchw(source), dropout_masks=masks)
    (torch_out * _nchw(weights)).sum().backward()
    np.testing.assert_allclose(torch_out.detach().numpy().transpose(0, 2, 3, 1), out, atol=1e-5)
    _assert_trees_close(grads, torch_pix2pix.flax_layout(twin, grads=True), rtol=1e-4)
    # Running means agree; torch's running variance takes the unbiased batch variance, m / (m - 1)
    # times Flax's biased one for m values per channel (down{i} and up{i} are S / 2^(i+1) wide).
    assert set(state.get('batch_stats', {})) == ({n for n in twin.layers if n.endswith('_norm')}
                                                  if norm == 'batch' else set())
    for name, stats in state.get('batch_stats', {}).items():
        layer, old_var = twin.layers[name], np.asarray(variables['batch_stats'][name]['var'])
        m = batch * (size >> (int(name[len('down'):-len('_norm')] if name.startswith('down')
                                   else name[len('up'):-len('_norm')]) + 1)) ** 2
        np.testing.assert_allclose(layer.running_mean.numpy(), stats['mean'], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose((layer.running_var.numpy() - 0.9 * old_var) * (m - 1) / m,
                                   np.asarray(stats['var']) - 0.9 * old_var, rtol=1e-4, atol=1e-6)

    # Eval mode with test_dropout=False: running averages, deterministic on both sides.
    clean = generator.clone(test_dropout=False)
    twin.test_dropout = False
    torch_pix2pix.load_flax_variables(twin, variables)
    twin.eval()
    with torch.no_grad():
        torch_eval = twin(_nchw(source)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(torch_eval, clean.apply(variables, source, train=False), atol=1e-5)


def test_pytorch_twin_initialisation_follows_the_reference():
    torch = pytest.importorskip('torch')
    from experiments.bench import torch_pix2pix

    torch.manual_seed(0)
    params = torch_pix2pix.flax_layout(torch_pix2pix.TorchUNetGenerator(32, 3, 3, width=32))
    assert set(params) == set(jax.eval_shape(lambda: UNetGenerator(channels=3, width=32).init(
        RNGS, jnp.zeros((1, 32, 32, 3))))['params'])
    kernel = params['up1']['kernel']
    assert kernel.shape == (4, 4, 256, 64) and abs(kernel.mean()) < 1e-3 and abs(kernel.std() - 0.02) < 1e-3
    scale = params['up1_norm']['scale']
    assert abs(scale.mean() - 1.0) < 0.01 and 0.01 < scale.std() < 0.03
    assert not any(np.any(layer['bias']) for layer in params.values() if 'bias' in layer)
