"""conv_2d / conv_transpose_2d against Flax's stock layers (and PyTorch when installed):
same forward, same input and kernel gradients, under jit and inside lax.scan; and the
compiled gradients use only XLA:CPU's canonical (fast-path) convolution layout."""
from __future__ import annotations

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans.models.ops.convolution import Conv2D, ConvTranspose2D, conv_2d, conv_transpose_2d

# (input size, kernel, stride, padding): DCGAN's layers first, then uneven cases where the
# strided window leaves rows unused or the output is cropped.
# Inputs of 8 or more rows (transposed) and outputs of 8 or more (conv, in its input gradient)
# take the phase-decomposed adjoint; the others the zero-dilated one.
TRANSPOSE_CASES = [(4, 4, 2, 1), (8, 4, 2, 1), (4, 4, 2, 0), (1, 4, 1, 0), (1, 4, 2, 1), (5, 3, 2, 1),
                   (3, 5, 3, 2), (6, 3, 1, 1), (8, 4, 2, 0), (8, 4, 2, 2), (8, 6, 3, 0), (9, 6, 3, 1)]
CONV_CASES = [(8, 4, 2, 1), (16, 4, 2, 1), (4, 4, 1, 0), (8, 3, 2, 0), (7, 4, 2, 1), (9, 5, 3, 2),
              (6, 3, 1, 1), (18, 4, 2, 0), (20, 4, 2, 2), (27, 6, 3, 0), (24, 6, 3, 3)]


def _random(shape, seed):
    # NumPy draws: a jitted jax.random.normal costs a compile per shape.
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _flax_transpose(kernel, stride, padding):
    k = kernel.shape[0]
    module = nn.ConvTranspose(kernel.shape[-1], (k, k), (stride, stride),
                              padding=[(k - 1 - padding, k - 1 - padding)] * 2, use_bias=False)
    return lambda x, w: module.apply({'params': {'kernel': w}}, x)


def _flax_conv(kernel, stride, padding):
    k = kernel.shape[0]
    module = nn.Conv(kernel.shape[-1], (k, k), (stride, stride), padding=[(padding, padding)] * 2,
                     use_bias=False)
    return lambda x, w: module.apply({'params': {'kernel': w}}, x)


def _value_and_grads(op, x, kernel, cotangent):
    """Output, and the gradients of <op(x, kernel), cotangent> in x and in the kernel."""
    def loss(x, kernel):
        return jnp.sum(op(x, kernel) * cotangent)
    return op(x, kernel), *jax.grad(loss, argnums=(0, 1))(x, kernel)


def _assert_close(actual, expected, rtol=2e-5):
    scale = float(jnp.max(jnp.abs(expected))) or 1.0
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=0, atol=rtol * scale)


@pytest.mark.parametrize('size,k,stride,padding', TRANSPOSE_CASES)
def test_conv_transpose_matches_flax(size, k, stride, padding):
    x, kernel = _random((2, size, size + 1, 3), 0), _random((k, k, 3, 5), 1)
    reference = _flax_transpose(kernel, stride, padding)
    expected_shape = (2, (size - 1) * stride + k - 2 * padding, size * stride + k - 2 * padding, 5)
    cotangent = _random(expected_shape, 2)
    ours = jax.jit(lambda x, w, c: _value_and_grads(
        lambda a, b: conv_transpose_2d(a, b, stride, padding), x, w, c))(x, kernel, cotangent)
    theirs = jax.jit(lambda x, w, c: _value_and_grads(reference, x, w, c))(x, kernel, cotangent)
    assert ours[0].shape == expected_shape
    for a, b in zip(ours, theirs):
        _assert_close(a, b)


@pytest.mark.parametrize('size,k,stride,padding', CONV_CASES)
def test_conv_matches_flax(size, k, stride, padding):
    x, kernel = _random((2, size, size, 3), 3), _random((k, k, 3, 4), 4)
    out = (size + 2 * padding - k) // stride + 1
    cotangent = _random((2, out, out, 4), 5)
    ours = jax.jit(lambda x, w, c: _value_and_grads(
        lambda a, b: conv_2d(a, b, stride, padding), x, w, c))(x, kernel, cotangent)
    reference = _flax_conv(kernel, stride, padding)
    theirs = jax.jit(lambda x, w, c: _value_and_grads(reference, x, w, c))(x, kernel, cotangent)
    assert ours[0].shape == (2, out, out, 4)
    for a, b in zip(ours, theirs):
        _assert_close(a, b)


def test_conv_transpose_matches_pytorch():
    torch = pytest.importorskip('torch')
    x, weight = np.array(_random((2, 4, 4, 6), 6)), np.array(_random((6, 5, 4, 4), 7))
    expected = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(weight), stride=2, padding=1)
    # PyTorch's weight [in, out, kh, kw] is the adjoint conv's kernel: ours is it flipped, as HWIO.
    kernel = jnp.flip(jnp.asarray(weight).transpose(2, 3, 0, 1), (0, 1))
    ours = conv_transpose_2d(jnp.asarray(x), kernel, 2, 1)
    _assert_close(ours, expected.permute(0, 2, 3, 1).numpy())


def test_gradients_inside_scan_match():
    """lax.scan bodies are where XLA leaves autodiff's conv layouts unrepaired."""
    xs, kernel = _random((3, 2, 4, 4, 6), 8), _random((4, 4, 6, 5), 9)
    reference = _flax_transpose(kernel, 2, 1)

    def total(op):
        def body(carry, x):
            return carry + jnp.sum(jnp.tanh(op(x, kernel))), None
        return lambda kernel: jax.lax.scan(body, 0.0, xs)[0]

    def ours(x, w):
        return conv_transpose_2d(x, w, 2, 1)
    _assert_close(jax.jit(jax.grad(total(ours)))(kernel), jax.jit(jax.grad(total(reference)))(kernel))


def _conv_dim_labels(fn, *args) -> list[str]:
    text = jax.jit(fn).lower(*args).compile().as_text()
    return re.findall(r'convolution\(.*dim_labels=([\w>-]+)', text)


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='checks XLA:CPU codegen')
@pytest.mark.parametrize('in_scan', [False, True])
def test_compiled_gradients_use_canonical_convolutions(in_scan):
    x, kernel, conv_kernel = _random((2, 4, 4, 6), 10), _random((4, 4, 6, 5), 11), _random((4, 4, 5, 7), 12)

    def loss(x, kernel, conv_kernel):
        return jnp.sum(conv_2d(conv_transpose_2d(x, kernel, 2, 1), conv_kernel, 2, 1) ** 2)

    grads = jax.grad(loss, argnums=(0, 1, 2))
    if in_scan:
        def fn(x, kernel, conv_kernel):
            return jax.lax.scan(lambda c, _: (c, grads(x, kernel, conv_kernel)), 0.0, None, length=1)[1]
    else:
        fn = grads
    labels = _conv_dim_labels(fn, x, kernel, conv_kernel)
    assert len(labels) >= 5  # forward of both, and input + kernel gradients
    assert set(labels) == {'b01f_01io->b01f'}, labels



@pytest.mark.parametrize('size,k,stride,padding,transposed', [(8, 4, 2, 1, False), (16, 4, 2, 1, False),
                                                              (4, 4, 2, 1, True), (8, 4, 2, 1, True)])
def test_second_order_gradients_match_flax_and_stay_canonical(size, k, stride, padding, transposed):
    """A gradient penalty differentiates an input gradient: the VJPs' own VJPs must be right,
    and (on CPU) compile to canonical convolutions only."""
    x = _random((2, size, size, 3), 14)
    kernel = _random((k, k, 3, 4), 15)
    if transposed:
        ours = lambda a, w: conv_transpose_2d(a, w, stride, padding)  # noqa: E731
        reference = _flax_transpose(kernel, stride, padding)
    else:
        ours = lambda a, w: conv_2d(a, w, stride, padding)  # noqa: E731
        reference = _flax_conv(kernel, stride, padding)

    def penalty(op):
        def input_grad_norm(w, x):
            g = jax.grad(lambda a: jnp.sum(jnp.tanh(op(a, w))))(x)
            return jnp.sum(g ** 2)
        return jax.grad(input_grad_norm, argnums=(0, 1))

    for a, b in zip(jax.jit(penalty(ours))(kernel, x), jax.jit(penalty(reference))(kernel, x)):
        _assert_close(a, b, rtol=1e-4)
    if jax.default_backend() == 'cpu':
        assert set(_conv_dim_labels(penalty(ours), kernel, x)) == {'b01f_01io->b01f'}

def test_layers_match_flax_parameter_layout():
    x = _random((2, 4, 4, 3), 13)
    ours = ConvTranspose2D(6, kernel_size=4, strides=2, padding=1)
    variables = ours.init(jax.random.PRNGKey(0), x)
    assert jax.tree.map(jnp.shape, variables['params']) == {'kernel': (4, 4, 3, 6), 'bias': (6,)}
    variables = {'params': {'kernel': variables['params']['kernel'], 'bias': _random((6,), 14)}}
    stock = nn.ConvTranspose(6, (4, 4), (2, 2), padding=[(2, 2)] * 2)
    _assert_close(ours.apply(variables, x), stock.apply(variables, x))

    conv = Conv2D(5, kernel_size=4, strides=2, padding=1, use_bias=False)
    variables = conv.init(jax.random.PRNGKey(1), x)
    assert jax.tree.map(jnp.shape, variables['params']) == {'kernel': (4, 4, 3, 5)}
    stock = nn.Conv(5, (4, 4), (2, 2), padding=[(1, 1)] * 2, use_bias=False)
    _assert_close(conv.apply(variables, x), stock.apply(variables, x))


@pytest.mark.parametrize('call,message', [
    (lambda: conv_transpose_2d(jnp.ones((4, 4, 3)), jnp.ones((4, 4, 3, 2))), 'NHWC'),
    (lambda: conv_transpose_2d(jnp.ones((1, 4, 4, 3)), jnp.ones((4, 4, 2, 2))), 'kernel must be'),
    (lambda: conv_transpose_2d(jnp.ones((1, 4, 4, 3)), jnp.ones((4, 4, 3, 2)), padding=4), 'padding'),
    (lambda: conv_transpose_2d(jnp.ones((1, 4, 4, 3)), jnp.ones((4, 4, 3, 2)), strides=0), 'strides'),
    (lambda: conv_2d(jnp.ones((1, 2, 2, 3)), jnp.ones((4, 4, 3, 2))), 'smaller than the kernel'),
    (lambda: conv_2d(jnp.ones((1, 8, 8, 3)), jnp.ones((4, 4, 3, 2)), strides=(1, 2, 3)), 'pair'),
    (lambda: Conv2D(4).init(jax.random.PRNGKey(0), jnp.ones((8, 8, 3))), 'NHWC'),
])
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
