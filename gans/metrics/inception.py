"""InceptionV3 as used for FID (Heusel et al. 2017): the 2015 TensorFlow graph, as ported by
pytorch-fid, in Flax Linen, with its input preprocessing and a batched feature function.

What this network is (and why it is not torchvision's InceptionV3):
- Layer names and shapes follow pytorch-fid's module tree (`Conv2d_1a_3x3`, `Mixed_5b.branch1x1`,
  ...), each convolution being conv (no bias) -> batch norm (eps 1e-3) -> ReLU, so that its
  `pt_inception-2015-12-05-6726825d.pth` maps onto this model name for name (see
  `inception_weights`). There is no auxiliary classifier.
- The FID graph's quirks: the 3x3 average pools inside the A, C and first E blocks (Mixed_5b-d,
  Mixed_6b-e, Mixed_7b) divide by the number of *real* pixels under the window (TF's average
  pool ignores padding), and the last E block (Mixed_7c) max-pools where the paper average-pools.
- Outputs: `pool3` [N, 2048], the global average pool after Mixed_7c (the FID features), and
  `logits` [N, 1008] from the graph's 1008-way classifier (softmax -> Inception Score).

Preprocessing follows pytorch-fid: values scaled to [-1, 1] (uint8 x -> x / 127.5 - 1), then a
bilinear resize to 299x299 with half-pixel centres and no antialiasing (torch's
`interpolate(mode='bilinear', align_corners=False)`). The original TF graph differs slightly:
it scales by (x - 128) / 128 and resizes with TF1's legacy `resize_bilinear` (no half-pixel
offset), so its FIDs and pytorch-fid's (and this module's) agree closely but not exactly.
For comparable FIDs, quantize generated images to uint8 first (`sampling.to_uint8`), as real
images are.

Convolutions run at `Precision.HIGHEST` by default so that GPUs/TPUs do not round to TF32/bf16
and features match across devices; pass `precision=None` to trade that for speed. The network
is fully convolutional up to the global pool, so any input of at least 75x75 runs (tests use
that); FID features are defined at 299x299.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from gans.engine import sharding
from gans.metrics.inception_weights import load_params, save_params  # noqa: F401  (re-exported API)

FID_IMAGE_SIZE = 299
MIN_IMAGE_SIZE = 75  # Smaller inputs shrink to nothing before Mixed_7b.
POOL3_DIM = 2048
NUM_LOGITS = 1008
BATCH_NORM_EPSILON = 1e-3

Precision = jax.lax.Precision | None


class ConvBN(nn.Module):
    """Conv (no bias) -> inference batch norm -> ReLU; torch's `BasicConv2d`."""
    features: int
    kernel: tuple[int, int]
    strides: int = 1
    padding: tuple[int, int] = (0, 0)  # (rows, cols), each applied on both sides, as torch's.
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        pad_rows, pad_cols = self.padding
        x = nn.Conv(self.features, self.kernel, strides=self.strides, use_bias=False,
                    padding=((pad_rows, pad_rows), (pad_cols, pad_cols)), precision=self.precision,
                    name='conv')(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=BATCH_NORM_EPSILON, name='bn')(x)
        return nn.relu(x)


def _avg_pool_3x3_same(x: jax.Array) -> jax.Array:
    # TF's average pool divides by the pixels inside the image, not the full 3x3 window.
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_same(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def _max_pool_3x3_stride2(x: jax.Array) -> jax.Array:
    return nn.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pooled branches (Mixed_5b-d)."""
    pool_features: int
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(ConvBN, precision=self.precision)
        branch1x1 = conv(64, (1, 1), name='branch1x1')(x)
        branch5x5 = conv(48, (1, 1), name='branch5x5_1')(x)
        branch5x5 = conv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(branch5x5)
        branch3x3dbl = conv(64, (1, 1), name='branch3x3dbl_1')(x)
        branch3x3dbl = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(branch3x3dbl)
        branch3x3dbl = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(branch3x3dbl)
        branch_pool = conv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_3x3_same(x))
        return jnp.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=-1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction (Mixed_6a)."""
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(ConvBN, precision=self.precision)
        branch3x3 = conv(384, (3, 3), strides=2, name='branch3x3')(x)
        branch3x3dbl = conv(64, (1, 1), name='branch3x3dbl_1')(x)
        branch3x3dbl = conv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(branch3x3dbl)
        branch3x3dbl = conv(96, (3, 3), strides=2, name='branch3x3dbl_3')(branch3x3dbl)
        return jnp.concatenate([branch3x3, branch3x3dbl, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b-e)."""
    channels_7x7: int
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(ConvBN, precision=self.precision)
        c7 = self.channels_7x7
        branch1x1 = conv(192, (1, 1), name='branch1x1')(x)
        branch7x7 = conv(c7, (1, 1), name='branch7x7_1')(x)
        branch7x7 = conv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(branch7x7)
        branch7x7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(branch7x7)
        branch7x7dbl = conv(c7, (1, 1), name='branch7x7dbl_1')(x)
        branch7x7dbl = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(branch7x7dbl)
        branch7x7dbl = conv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(branch7x7dbl)
        branch7x7dbl = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(branch7x7dbl)
        branch7x7dbl = conv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(branch7x7dbl)
        branch_pool = conv(192, (1, 1), name='branch_pool')(_avg_pool_3x3_same(x))
        return jnp.concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=-1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction (Mixed_7a)."""
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = functools.partial(ConvBN, precision=self.precision)
        branch3x3 = conv(192, (1, 1), name='branch3x3_1')(x)
        branch3x3 = conv(320, (3, 3), strides=2, name='branch3x3_2')(branch3x3)
        branch7x7x3 = conv(192, (1, 1), name='branch7x7x3_1')(x)
        branch7x7x3 = conv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(branch7x7x3)
        branch7x7x3 = conv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(branch7x7x3)
        branch7x7x3 = conv(192, (3, 3), strides=2, name='branch7x7x3_4')(branch7x7x3)
        return jnp.concatenate([branch3x3, branch7x7x3, _max_pool_3x3_stride2(x)], axis=-1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 branches (Mixed_7b avg-pools, Mixed_7c max-pools)."""
    pool: str  # 'avg' or 'max'
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.pool not in ('avg', 'max'):
            raise ValueError(f"InceptionE pool must be 'avg' or 'max', got {self.pool!r}")
        conv = functools.partial(ConvBN, precision=self.precision)
        branch1x1 = conv(320, (1, 1), name='branch1x1')(x)
        branch3x3 = conv(384, (1, 1), name='branch3x3_1')(x)
        branch3x3 = [conv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(branch3x3),
                     conv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(branch3x3)]
        branch3x3dbl = conv(448, (1, 1), name='branch3x3dbl_1')(x)
        branch3x3dbl = conv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(branch3x3dbl)
        branch3x3dbl = [conv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(branch3x3dbl),
                        conv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(branch3x3dbl)]
        pooled = _avg_pool_3x3_same(x) if self.pool == 'avg' else _max_pool_3x3_same(x)
        branch_pool = conv(192, (1, 1), name='branch_pool')(pooled)
        return jnp.concatenate([branch1x1, *branch3x3, *branch3x3dbl, branch_pool], axis=-1)


class InceptionV3FID(nn.Module):
    """images [N, H, W, 3] in [-1, 1] (H, W >= 75; 299 for FID) -> {'pool3': [N, 2048], 'logits': [N, 1008]}.

    Inference only: batch norm always uses the stored statistics (`batch_stats`).
    """
    precision: Precision = jax.lax.Precision.HIGHEST

    @nn.compact
    def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f'InceptionV3FID expects images [N, H, W, 3] in [-1, 1], got shape {images.shape} '
                             f'(use inception.preprocess for grayscale, uint8 or other sizes)')
        if min(images.shape[1:3]) < MIN_IMAGE_SIZE:
            raise ValueError(f'InceptionV3FID needs images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}, got '
                             f'{images.shape[1]}x{images.shape[2]} (FID uses {FID_IMAGE_SIZE}x{FID_IMAGE_SIZE})')
        kw = dict(precision=self.precision)
        x = images.astype(jnp.float32)
        x = ConvBN(32, (3, 3), strides=2, **kw, name='Conv2d_1a_3x3')(x)
        x = ConvBN(32, (3, 3), **kw, name='Conv2d_2a_3x3')(x)
        x = ConvBN(64, (3, 3), padding=(1, 1), **kw, name='Conv2d_2b_3x3')(x)
        x = _max_pool_3x3_stride2(x)
        x = ConvBN(80, (1, 1), **kw, name='Conv2d_3b_1x1')(x)
        x = ConvBN(192, (3, 3), **kw, name='Conv2d_4a_3x3')(x)
        x = _max_pool_3x3_stride2(x)
        x = InceptionA(32, **kw, name='Mixed_5b')(x)
        x = InceptionA(64, **kw, name='Mixed_5c')(x)
        x = InceptionA(64, **kw, name='Mixed_5d')(x)
        x = InceptionB(**kw, name='Mixed_6a')(x)
        for name, channels_7x7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
            x = InceptionC(channels_7x7, **kw, name=name)(x)
        x = InceptionD(**kw, name='Mixed_7a')(x)
        x = InceptionE('avg', **kw, name='Mixed_7b')(x)
        x = InceptionE('max', **kw, name='Mixed_7c')(x)
        pool3 = x.mean(axis=(1, 2))
        logits = nn.Dense(NUM_LOGITS, precision=self.precision, name='fc')(pool3)
        return {'pool3': pool3, 'logits': logits}


def check_images(images: Any) -> None:
    """Raises ValueError unless `images` is [N, H, W], [N, H, W, 1] or [N, H, W, 3] uint8 or float."""
    if not hasattr(images, 'dtype'):
        images = np.asarray(images)
    shape, dtype = np.shape(images), np.dtype(images.dtype)
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        raise ValueError(f'images must be [N, H, W], [N, H, W, 1] or [N, H, W, 3] (channels last), got shape {shape}')
    if dtype != np.uint8 and not np.issubdtype(dtype, np.floating):
        raise ValueError(f'images must be uint8 in [0, 255] or floats, got dtype {dtype}')


def preprocess(images: Any, *, size: int = FID_IMAGE_SIZE,
               value_range: tuple[float, float] = (-1.0, 1.0)) -> jax.Array:
    """uint8 [0, 255] or float (in `value_range`) images -> float32 [N, size, size, 3] in [-1, 1].

    Grayscale ([N, H, W] or [N, H, W, 1]) is repeated to 3 channels; other sizes are resized
    bilinearly (half-pixel centres, no antialiasing, as pytorch-fid). Jit-compatible.
    """
    check_images(images)
    low, high = value_range
    if not high > low:
        raise ValueError(f'value_range must be (low, high) with high > low, got {value_range}')
    if size < MIN_IMAGE_SIZE:
        raise ValueError(f'size must be at least {MIN_IMAGE_SIZE}, got {size}')
    x = jnp.asarray(images)
    if x.dtype == jnp.uint8:
        x = x.astype(jnp.float32) / 127.5 - 1.0
    elif (low, high) == (-1.0, 1.0):
        x = x.astype(jnp.float32)  # Already in range: no arithmetic, so no rounding.
    else:
        x = (x.astype(jnp.float32) - low) * (2.0 / (high - low)) - 1.0
    if x.ndim == 3:
        x = x[..., None]
    x = jnp.broadcast_to(x, (*x.shape[:3], 3))
    if x.shape[1:3] != (size, size):
        x = jax.image.resize(x, (x.shape[0], size, size, 3), method='bilinear', antialias=False)
    return x


def feature_fn(variables: Any, *, batch_size: int = 50, size: int = FID_IMAGE_SIZE,
               value_range: tuple[float, float] = (-1.0, 1.0), mesh: Mesh | None = None,
               precision: Precision = jax.lax.Precision.HIGHEST,
               ) -> Callable[[Any], dict[str, np.ndarray]]:
    """Returns `embed(images) -> {'pool3': [N, 2048], 'logits': [N, 1008]}` (float32 numpy).

    `images` are any number of uint8 or float images accepted by `preprocess`; they are cut into
    chunks of `batch_size` (the last one padded, so one compiled program serves every call) and
    each chunk is preprocessed and embedded in one jitted call. With `mesh` (single process),
    each chunk is split over its `data` axis and the weights are replicated.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if mesh is not None:
        sharding.check_divisible(batch_size, mesh)
        variables = sharding.replicate(variables, mesh)
    model = InceptionV3FID(precision=precision)

    # Weights are an argument, not a closure, so they are not baked into the program as constants.
    @jax.jit
    def embed_chunk(variables: Any, chunk: jax.Array) -> dict[str, jax.Array]:
        return model.apply(variables, preprocess(chunk, size=size, value_range=value_range))

    def embed(images: Any) -> dict[str, np.ndarray]:
        check_images(images)
        images = np.asarray(images)
        count = images.shape[0]
        if count == 0:
            raise ValueError('images is empty: got 0 images')
        outputs: list[dict[str, np.ndarray]] = []
        for start in range(0, count, batch_size):
            chunk = images[start:start + batch_size]
            real = chunk.shape[0]
            if real < batch_size:  # Repeat the last image rather than recompile for a short chunk.
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - real, axis=0)])
            if mesh is not None:
                chunk = jax.device_put(chunk, sharding.batch_sharding(mesh))
            out = embed_chunk(variables, chunk)
            outputs.append({k: np.asarray(v[:real]) for k, v in out.items()})
        return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}

    return embed


def init_variables(key: jax.Array, size: int = MIN_IMAGE_SIZE) -> dict:
    """Randomly initialised variables (for tests and shape templates; FID needs real weights)."""
    return InceptionV3FID().init(key, jnp.zeros((1, size, size, 3), jnp.float32))


def num_parameters(variables: Any, collections: Sequence[str] = ('params',)) -> int:
    return sum(int(np.prod(np.shape(leaf))) for c in collections for leaf in jax.tree.leaves(variables[c]))
