"""Strided and transposed 2-D convolutions whose gradients XLA:CPU runs fast.

XLA:CPU has a fast convolution path only for the canonical layout (NHWC input,
HWIO kernel, NHWC output, no window reversal); a convolution it cannot bring to
that form runs on a generic loop that is 10-100x slower. JAX's autodiff of a
convolution emits non-canonical convolutions (batch and feature dimensions
swapped) that XLA usually repairs, but not always: the kernel gradient of
`lax.conv_transpose`, and every conv gradient inside a `lax.scan` body, stay on
the slow path; neither does the second derivative a gradient penalty takes. Here
three canonical convolutions have custom VJPs made of each other, so gradients
of every order stay on them:

    C(x, K)    strided conv                        (forward of conv_2d)
    C^T(y, K)  its adjoint in x: one conv over     (forward of conv_transpose_2d,
               y's output phases, or a conv of      input gradient of conv_2d)
               the zero-dilated y
    G(x, y)    kernel gradient <C(x, .), y>        (kernel gradients of both)

A transposed convolution is C^T, so its input gradient is C and its kernel
gradient is G with the roles of input and output swapped. Two edge cases that
are matrix products (a window covering the whole input; a 1x1 input) skip the
convolution entirely.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ('NHWC', 'HWIO', 'NHWC')

Pair = tuple[int, int]


def _pair(value: int | Sequence[int], name: str) -> Pair:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f'{name} must be an int or a pair of ints, got {value!r}')
    return pair  # type: ignore[return-value]


def _adjoint_kernel(kernel):
    """Transposed-conv kernel [kh, kw, in, out] <-> kernel [kh, kw, out, in] of the conv C
    it is the adjoint of (an involution). Flax's ConvTranspose does not flip its kernel."""
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def _conv(x, kernel, strides: Pair, padding: Pair):
    """C: [N, H, W, I] x [kh, kw, I, O] -> [N, Ho, Wo, O]."""
    return lax.conv_general_dilated(x, kernel, strides, [(p, p) for p in padding], dimension_numbers=_NHWC)


def _conv_adjoint(y, transposed_kernel, strides: Pair, padding: Pair, input_hw: Pair):
    """C^T: [N, Ho, Wo, O] -> [N, H, W, I], the adjoint of C(., K) in its input, given
    `transposed_kernel` = _adjoint_kernel(K) [kh, kw, O, I]: by output phases where that applies,
    else a conv of the zero-dilated y."""
    if _phases_apply(y.shape[1:3], transposed_kernel.shape[:2], strides, input_hw):
        return _conv_adjoint_by_phases(y, _adjoint_kernel(transposed_kernel), strides, padding, input_hw)
    # Rows the strided window never reached (when (H + 2p - k) % s != 0) get zeros: extra high padding.
    pads = []
    for k, s, p, size, out in zip(transposed_kernel.shape[:2], strides, padding, input_hw, y.shape[1:3]):
        low = k - 1 - p
        pads.append((low, size - ((out - 1) * s + 1) - low + k - 1))
    return lax.conv_general_dilated(y, transposed_kernel, (1, 1), pads, lhs_dilation=strides,
                                    dimension_numbers=_NHWC)


# Below this many rows (or columns) of y, the phase convolution's overlap (its output is one row
# and column larger than a phase: (m + 1)^2 / m^2 the work) costs more than the dilated conv.
_MIN_PHASE_ROWS = 8


def _phases_apply(y_hw, kernel_hw, strides: Pair, input_hw: Pair) -> bool:
    return (strides != (1, 1) and min(y_hw) >= _MIN_PHASE_ROWS and
            all(k % s == 0 and n % s == 0 for k, s, n in zip(kernel_hw, strides, input_hw)))


def _conv_adjoint_by_phases(y, kernel, strides: Pair, padding: Pair, input_hw: Pair):
    """C^T(y) for C = conv(., kernel [kh, kw, I, O]) without zero-dilating y.

    Output row s*m + r (phase r) meets only taps t = (r + p) mod s + s*j, at y rows
    m + (r + p) // s - j: a stride-1 conv of y with a (k/s)-tap sub-kernel. One conv computes
    every phase as a group of output channels (phases start at most one row apart, so it runs
    over one extra row and column); slicing and interleaving the groups gives C^T(y). XLA:CPU
    runs the dilated conv on a slower generic path: this is 1.3-5.5x faster on DCGAN's shapes.
    """
    (sh, sw), n, i = strides, y.shape[0], kernel.shape[2]
    starts, taps = [], []  # per axis: each phase's first y row, and its kernel taps in y order
    for k, s, p in zip(kernel.shape[:2], strides, padding):
        starts.append([(r + p) // s for r in range(s)])
        taps.append([[(r + p) % s + s * (k // s - 1 - j) for j in range(k // s)] for r in range(s)])
    groups = [kernel[jnp.array(rows)][:, jnp.array(cols)].swapaxes(2, 3) for rows in taps[0] for cols in taps[1]]
    pads = [(k // s - 1 - min(c), max(c) + size // s - out)
            for c, k, s, size, out in zip(starts, kernel.shape[:2], strides, input_hw, y.shape[1:3])]
    z = lax.conv_general_dilated(y, jnp.concatenate(groups, axis=3), (1, 1), pads, dimension_numbers=_NHWC)
    mh, mw = input_hw[0] // sh, input_hw[1] // sw
    (ch, cw) = [[c - min(axis) for c in axis] for axis in starts]
    phases = [jnp.stack([z[:, ch[a]:ch[a] + mh, cw[b]:cw[b] + mw, (a * sw + b) * i:(a * sw + b + 1) * i]
                         for b in range(sw)], axis=3) for a in range(sh)]
    return jnp.stack(phases, axis=2).reshape(n, *input_hw, i)  # [N, mh, sh, mw, sw, I] interleaved


def _conv_kernel_grad(x, y, strides: Pair, padding: Pair, kernel_hw: Pair):
    """G: sum over examples and positions of x-patches times y: [kh, kw, I, O]."""
    pads = [(p, k + (out - 1) * s - size - p)
            for k, s, p, size, out in zip(kernel_hw, strides, padding, x.shape[1:3], y.shape[1:3])]
    # A canonical conv contracting over examples: x as an [I, H, W, N] "batch" of I images,
    # y as an [Ho, Wo, N, O] kernel dilated by the stride. Explicit transposes keep the HLO
    # canonical wherever it lands (XLA does not repair it inside loop bodies).
    grad = lax.conv_general_dilated(x.transpose(3, 1, 2, 0), y.transpose(1, 2, 0, 3), (1, 1), pads,
                                    rhs_dilation=strides, dimension_numbers=_NHWC)
    return grad.transpose(1, 2, 0, 3)  # [I, kh, kw, O] -> [kh, kw, I, O]


# C, C^T and G as custom-VJP functions whose VJPs are each other:
#   <C(x, K), y> = <x, C^T(y, K)> = <G(x, y), K>,
# so C's VJP is (C^T, G), C^T's is (C, G) and G's is (C^T, C). Gradients of any order (the
# gradient penalty differentiates a gradient) stay on the three canonical convolutions.


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_2d(x, kernel, strides, padding):
    return _conv(x, kernel, strides, padding)


def _conv_2d_fwd(x, kernel, strides, padding):
    return _conv(x, kernel, strides, padding), (x, kernel)


def _conv_2d_bwd(strides, padding, residuals, grad_y):
    x, kernel = residuals
    return (_conv_2d_adjoint(grad_y, kernel, strides, padding, x.shape[1:3]),
            _kernel_grad(x, grad_y, strides, padding, kernel.shape[:2]))


_conv_2d.defvjp(_conv_2d_fwd, _conv_2d_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_2d_adjoint(y, kernel, strides, padding, input_hw):
    """C^T(y, K) for C's own kernel K [kh, kw, I, O]."""
    return _conv_adjoint(y, _adjoint_kernel(kernel), strides, padding, input_hw)


def _conv_2d_adjoint_fwd(y, kernel, strides, padding, input_hw):
    return _conv_2d_adjoint(y, kernel, strides, padding, input_hw), (y, kernel)


def _conv_2d_adjoint_bwd(strides, padding, input_hw, residuals, grad_x):
    y, kernel = residuals
    return (_conv_2d(grad_x, kernel, strides, padding),
            _kernel_grad(grad_x, y, strides, padding, kernel.shape[:2]))


_conv_2d_adjoint.defvjp(_conv_2d_adjoint_fwd, _conv_2d_adjoint_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _kernel_grad(x, y, strides, padding, kernel_hw):
    return _conv_kernel_grad(x, y, strides, padding, kernel_hw)


def _kernel_grad_fwd(x, y, strides, padding, kernel_hw):
    return _conv_kernel_grad(x, y, strides, padding, kernel_hw), (x, y)


def _kernel_grad_bwd(strides, padding, kernel_hw, residuals, grad_kernel):
    x, y = residuals
    return (_conv_2d_adjoint(y, grad_kernel, strides, padding, x.shape[1:3]),
            _conv_2d(x, grad_kernel, strides, padding))


_kernel_grad.defvjp(_kernel_grad_fwd, _kernel_grad_bwd)


def _transposed_output_hw(x, kernel, strides, padding) -> Pair:
    return tuple((size - 1) * s + k - 2 * p
                 for size, k, s, p in zip(x.shape[1:3], kernel.shape[:2], strides, padding))  # type: ignore


def _conv_transpose_2d(x, kernel, strides, padding):
    """A transposed conv is C^T with C's kernel `_adjoint_kernel(kernel)`."""
    output_hw = _transposed_output_hw(x, kernel, strides, padding)
    return _conv_2d_adjoint(x, _adjoint_kernel(kernel), strides, padding, output_hw)

def _check(x, kernel, strides, padding, op: str) -> tuple[Pair, Pair]:
    strides, padding = _pair(strides, 'strides'), _pair(padding, 'padding')
    if x.ndim != 4:
        raise ValueError(f'{op} expects NHWC input (4 dims), got shape {x.shape}')
    if kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ValueError(f'{op}: kernel must be [kh, kw, {x.shape[3]}, out] for input {x.shape}, got {kernel.shape}')
    if min(strides) < 1:
        raise ValueError(f'{op}: strides must be positive, got {strides}')
    for k, p in zip(kernel.shape[:2], padding):
        if not 0 <= p <= k - 1:
            raise ValueError(f'{op}: padding must be in [0, kernel_size - 1] = [0, {k - 1}], got {p}')
    return strides, padding


def conv_2d(x: jax.Array, kernel: jax.Array, strides: int | Sequence[int] = 1,
            padding: int | Sequence[int] = 0) -> jax.Array:
    """Strided 2-D convolution (cross-correlation), NHWC input, HWIO kernel [kh, kw, in, out].

    `padding` zeros are added on each side, so out = (in + 2 * padding - kernel) // stride + 1.
    Equals `flax.linen.Conv(out, kernel_size, strides, padding=[(p, p)] * 2)` with the same kernel.
    """
    strides, padding = _check(x, kernel, strides, padding, 'conv_2d')
    for size, k, p in zip(x.shape[1:3], kernel.shape[:2], padding):
        if size + 2 * p < k:
            raise ValueError(f'conv_2d: input {x.shape} padded by {padding} is smaller than the kernel {kernel.shape}')
    if padding == (0, 0) and x.shape[1:3] == kernel.shape[:2]:
        # The window covers the whole input (DCGAN's last D layer): a matrix product, which
        # XLA runs faster than a convolution, and whose gradients are matrix products too.
        return jnp.einsum('nhwi,hwio->no', x, kernel)[:, None, None, :]
    return _conv_2d(x, kernel, strides, padding)


def conv_transpose_2d(x: jax.Array, kernel: jax.Array, strides: int | Sequence[int] = 2,
                      padding: int | Sequence[int] = 1) -> jax.Array:
    """2-D transposed convolution, NHWC input, HWIO kernel [kh, kw, in, out].

    `padding` is cropped from each side of the full output, as in PyTorch's ConvTranspose2d,
    so out = (in - 1) * stride + kernel - 2 * padding. Equals `flax.linen.ConvTranspose(out,
    kernel_size, strides, padding=[(k - 1 - p, k - 1 - p)] * 2)` with the same kernel.
    """
    strides, padding = _check(x, kernel, strides, padding, 'conv_transpose_2d')
    if x.shape[1:3] == (1, 1):
        # A 1x1 input (DCGAN's projection of z) only meets each kernel tap once: a matrix
        # product with the (flipped, cropped) kernel, 16x cheaper than the padded convolution.
        (kh, kw), (ph, pw) = kernel.shape[:2], padding
        taps = jnp.flip(kernel, (0, 1))[ph:kh - ph, pw:kw - pw]
        return jnp.einsum('ni,hwio->nhwo', x[:, 0, 0], taps)
    return _conv_transpose_2d(x, kernel, strides, padding)


def at_least_float32(x: jax.Array) -> jax.Array:
    """`x` in float32, or wider if it is wider: networks hand float32 outputs to the losses
    whatever their computation dtype (bfloat16 -> float32; float64 stays float64)."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


class _ConvLayer(nn.Module):
    features: int
    kernel_size: int | Sequence[int] = 4
    strides: int | Sequence[int] = 2
    padding: int | Sequence[int] = 1
    use_bias: bool = True
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()
    # Computation dtype (None: the input's). Parameters stay float32 whatever it is; their
    # gradients come back float32 through the cast.
    dtype: Any = None

    def _apply(self, x: jax.Array, op) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f'{type(self).__name__} expects NHWC input (4 dims), got shape {x.shape}')
        kh, kw = _pair(self.kernel_size, 'kernel_size')
        kernel = self.param('kernel', self.kernel_init, (kh, kw, x.shape[-1], self.features))
        if self.dtype is not None and x.dtype != self.dtype:
            x = x.astype(self.dtype)
        y = op(x, kernel.astype(x.dtype), self.strides, self.padding)
        if self.use_bias:
            y = y + self.param('bias', self.bias_init, (self.features,)).astype(y.dtype)
        return y


class Conv2D(_ConvLayer):
    """Strided convolution layer on `conv_2d`; parameters `kernel` [kh, kw, in, features]
    (as nn.Conv) and `bias` [features] when `use_bias`."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return self._apply(x, conv_2d)


class ConvTranspose2D(_ConvLayer):
    """Transposed convolution layer on `conv_transpose_2d`; parameters `kernel`
    [kh, kw, in, features] (as nn.ConvTranspose) and `bias` [features] when `use_bias`."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return self._apply(x, conv_transpose_2d)
