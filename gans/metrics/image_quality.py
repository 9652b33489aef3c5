"""Full-reference image quality for image-to-image translation and super-resolution: PSNR,
SSIM, L1 and MSE between a generated image and its target, one value per image.

Conventions:
- Images are batched NHWC, [N, H, W, C]; every metric returns one value per image, [N].
- Images are uint8 in [0, 255] or floats. The library's float images (training data, generator
  outputs) are in [-1, 1]. Every function takes `data_range`, which says which range the images
  are in: `(low, high)`, e.g. `(-1.0, 1.0)` for the library's images, or a number `R`, meaning
  `(0, R)` as in scikit-image (`255` for uint8, `255.0` for the Y channel of `rgb_to_luminance`).
  uint8 images only accept `255` or `(0, 255)`. There is no default, because a wrong range
  silently moves PSNR by 20 log10(2) ~ 6 dB and changes SSIM.
- Checked: x and y share shape and dtype (mixing uint8 with floats is ambiguous); when called
  outside `jax.jit` (concrete arrays), float images must lie inside `data_range` (clip generator
  outputs first). Under `jax.jit` values cannot be inspected, so only the static checks run, and
  `data_range` must be Python numbers (static).
- Metrics are computed in float32 (float64 for float64 inputs) on `to_unit_range` images,
  (x - low) / (high - low) in [0, 1] (pixel errors scale the difference x - y instead, which
  is exact for uint8), so the uint8 and [-1, 1] versions of an image score the same. PSNR does not depend on the offset, so it equals scikit-image's
  `peak_signal_noise_ratio(x, y, data_range=high - low)` on the raw values. SSIM does (its
  luminance term compares means), so it equals scikit-image on the unit-range images with
  `data_range=1` (equivalently on uint8 with 255); scikit-image on raw [-1, 1] values with
  `data_range=2` gives a different number.
- L1 and MSE are reported in the library's [-1, 1] units (as pix2pix reports L1), whatever the
  input range, so PSNR = 10 log10(2^2 / MSE) for the same images.

Super-resolution papers report PSNR and SSIM on the Y channel of BT.601 YCbCr with `scale`
pixels cropped from each border:

    y_sr = crop_border(rgb_to_luminance(sr, (-1.0, 1.0)), scale)
    y_hr = crop_border(rgb_to_luminance(hr, (-1.0, 1.0)), scale)
    psnr(y_sr, y_hr, 255.0), ssim(y_sr, y_hr, 255.0)

Y is not rounded to integers (as BasicSR; MATLAB's `rgb2ycbcr` on uint8 rounds it, which
moves PSNR slightly). Quantize the generated RGB to uint8 first (`sampling.to_uint8`) to score
the images as they would be saved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

DataRange = float | tuple[float, float]

# ITU-R BT.601 luma for R, G, B in [0, 1]: Y in [16, 235] on the 0..255 scale (as MATLAB's
# rgb2ycbcr and the super-resolution literature).
_BT601_LUMA = (65.481, 128.553, 24.966)
_BT601_OFFSET = 16.0

# Values a float image may stray outside its range (rounding of resizes and conversions)
# before the eager range check rejects it, as a fraction of the range.
_RANGE_TOLERANCE = 1e-4


# ----------------------------------------------------------------------------- conventions

def _parse_range(data_range: Any, dtype: np.dtype) -> tuple[float, float]:
    """`data_range` (R or (low, high)) -> (low, high) as Python floats, checked against `dtype`."""
    if isinstance(data_range, jax.core.Tracer):
        raise TypeError('data_range must be Python numbers, not a traced value: close over it or mark it static')
    if isinstance(data_range, (tuple, list)):
        if len(data_range) != 2:
            raise ValueError(f'data_range must be a number R (meaning (0, R)) or (low, high), got {data_range!r}')
        low, high = float(data_range[0]), float(data_range[1])
    elif isinstance(data_range, (int, float, np.integer, np.floating)) and not isinstance(data_range, bool):
        low, high = 0.0, float(data_range)
    else:
        raise TypeError(f'data_range must be a number R (meaning (0, R)) or (low, high), got {data_range!r}')
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(f'data_range must be finite with high > low, got ({low}, {high})')
    if dtype == np.uint8 and (low, high) != (0.0, 255.0):
        raise ValueError(f'uint8 images span [0, 255]: pass data_range=255, got ({low}, {high})')
    return low, high


def _check_dtype(x: jax.Array) -> None:
    if x.dtype != jnp.uint8 and not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f'images must be uint8 in [0, 255] or floats, got dtype {x.dtype}')


def _check_values(x: jax.Array, low: float, high: float, name: str) -> None:
    """Outside jit, rejects float images that are not finite or not inside [low, high]."""
    if x.dtype == jnp.uint8 or isinstance(x, jax.core.Tracer):
        return
    lo, hi = float(jnp.min(x)), float(jnp.max(x))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f'{name} has NaN or infinite values')
    tol = _RANGE_TOLERANCE * (high - low)
    if lo < low - tol or hi > high + tol:
        raise ValueError(f'{name} has values in [{lo:.6g}, {hi:.6g}], outside data_range ({low:g}, {high:g}): '
                         f'pass the range the images are in (the library uses (-1.0, 1.0)), or clip them')


def _check_images(x: Any, name: str) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f'{name} must be a batch of NHWC images [N, H, W, C], got shape {x.shape}')
    _check_dtype(x)
    return x


def _check_pair(x: Any, y: Any, data_range: Any) -> tuple[jax.Array, jax.Array, float, float]:
    x, y = _check_images(x, 'x'), _check_images(y, 'y')
    if x.shape != y.shape:
        raise ValueError(f'x and y must have the same shape, got {x.shape} and {y.shape}')
    if x.dtype != y.dtype:
        raise ValueError(f'x and y must have the same dtype (convert both to one range first), '
                         f'got {x.dtype} and {y.dtype}')
    low, high = _parse_range(data_range, x.dtype)
    _check_values(x, low, high, 'x')
    _check_values(y, low, high, 'y')
    return x, y, low, high


def _compute_dtype(dtype) -> jnp.dtype:
    # uint8 and half precision are promoted to float32; float64 (under jax_enable_x64) is kept.
    return jnp.promote_types(dtype, jnp.float32)


def _unit(x: jax.Array, low: float, high: float) -> jax.Array:
    x = x.astype(_compute_dtype(x.dtype))
    if (low, high) == (0.0, 1.0):
        return x
    return (x - low) / (high - low)


def to_unit_range(images: Any, data_range: DataRange) -> jax.Array:
    r"""Maps images in `data_range` to floats in [0, 1].

    .. math::
        u = (x - low) / (high - low)

    so uint8 (data_range=255) gives x / 255 and the library's images (data_range=(-1.0, 1.0))
    give (x + 1) / 2. Values are not clipped.

    Args:
      images: uint8 [0, 255] or float images (any shape).
      data_range: the range the images are in, (low, high) or R meaning (0, R).

    Returns:
      float32 (float64 for float64 inputs) images of the same shape.
    """
    images = jnp.asarray(images)
    _check_dtype(images)
    low, high = _parse_range(data_range, images.dtype)
    _check_values(images, low, high, 'images')
    return _unit(images, low, high)


# ----------------------------------------------------------------------------- pixel errors

# The pixel errors take differences before scaling to unit range: exact for uint8, and the
# offset `low` cancels, so only one rounding (by the width) remains.
@jax.jit(static_argnames='width')
def _mse_unit(x: jax.Array, y: jax.Array, width: float) -> jax.Array:
    dtype = _compute_dtype(x.dtype)
    return jnp.mean(jnp.square(x.astype(dtype) - y.astype(dtype)), axis=(1, 2, 3)) / width ** 2


def mse(x: Any, y: Any, data_range: DataRange) -> jax.Array:
    r"""Mean squared error per image, in the library's [-1, 1] units.

    .. math::
        \mathrm{MSE} = \frac{1}{HWC} \sum_{h,w,c} (2 u_{hwc} - 2 v_{hwc})^2

    where u, v are the images mapped to [0, 1] (`to_unit_range`), so a [-1, 1] image gives the
    plain mean of (x - y)^2, and PSNR = 10 log10(2^2 / MSE).

    Args:
      x, y: [N, H, W, C] images of the same shape and dtype, uint8 or float.
      data_range: the range the images are in, (low, high) or R meaning (0, R).

    Returns:
      [N] MSE per image.
    """
    x, y, low, high = _check_pair(x, y, data_range)
    return 4.0 * _mse_unit(x, y, high - low)


@jax.jit(static_argnames='width')
def _l1_unit(x: jax.Array, y: jax.Array, width: float) -> jax.Array:
    dtype = _compute_dtype(x.dtype)
    return jnp.mean(jnp.abs(x.astype(dtype) - y.astype(dtype)), axis=(1, 2, 3)) / width


def l1(x: Any, y: Any, data_range: DataRange) -> jax.Array:
    r"""Mean absolute error per image, in the library's [-1, 1] units (as pix2pix reports L1).

    .. math::
        L_1 = \frac{1}{HWC} \sum_{h,w,c} |2 u_{hwc} - 2 v_{hwc}|

    where u, v are the images mapped to [0, 1] (`to_unit_range`); for [-1, 1] images this is
    the mean of |x - y|, the pix2pix reconstruction loss.

    Args:
      x, y: [N, H, W, C] images of the same shape and dtype, uint8 or float.
      data_range: the range the images are in, (low, high) or R meaning (0, R).

    Returns:
      [N] L1 per image.
    """
    x, y, low, high = _check_pair(x, y, data_range)
    return 2.0 * _l1_unit(x, y, high - low)


def psnr(x: Any, y: Any, data_range: DataRange) -> jax.Array:
    r"""Peak signal-to-noise ratio per image, in dB.

    .. math::
        \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\frac{1}{HWC} \sum_{h,w,c} (x_{hwc} - y_{hwc})^2},
        \quad R = high - low

    over all pixels and channels of each image (as `skimage.metrics.peak_signal_noise_ratio`).
    Differences are taken before scaling, so uint8 errors are exact.

    Identical images have MSE 0 and PSNR +inf. A mean over a dataset is then +inf, so average
    the finite values and count the identical images (`QualityMeans` does), or also report the
    mean MSE.

    Args:
      x, y: [N, H, W, C] images of the same shape and dtype, uint8 or float.
      data_range: the range the images are in, (low, high) or R meaning (0, R); PSNR depends
        only on its width R.

    Returns:
      [N] PSNR per image; +inf where x and y are identical.
    """
    x, y, low, high = _check_pair(x, y, data_range)
    # 10 log10(1 / MSE): divide-by-zero gives +inf, as documented.
    return -10.0 * jnp.log10(_mse_unit(x, y, high - low))


# ----------------------------------------------------------------------------- SSIM

def _gaussian_taps(window_size: int, sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian window (as scipy.ndimage.gaussian_filter's kernel)."""
    t = np.arange(window_size, dtype=np.float64) - (window_size - 1) / 2
    taps = np.exp(-0.5 * (t / sigma) ** 2)
    return taps / taps.sum()


def _filter_valid(images: jax.Array, taps: np.ndarray) -> jax.Array:
    """Separable Gaussian filter of [N, H, W, C] over the 'valid' region: [N, H - k + 1, W - k + 1, C].

    A weighted sum of shifted slices rather than a convolution: plain float arithmetic, so
    accelerators do not round it to TF32 / bfloat16.
    """
    k = len(taps)
    h, w = images.shape[1] - k + 1, images.shape[2] - k + 1
    rows = sum(float(t) * images[:, i:i + h] for i, t in enumerate(taps))
    return sum(float(t) * rows[:, :, i:i + w] for i, t in enumerate(taps))


@jax.jit(static_argnames=('window_size', 'sigma', 'k1', 'k2'))
def _ssim_unit(u: jax.Array, v: jax.Array, window_size: int, sigma: float, k1: float, k2: float) -> jax.Array:
    taps = _gaussian_taps(window_size, sigma)
    c1, c2 = k1 ** 2, k2 ** 2  # data range 1
    # Variances and covariance do not depend on an offset, so take them about each channel's
    # mean: E[d^2] - E[d]^2 then cancels far less in float32 than on raw intensities.
    mu_u_all = jnp.mean(u, axis=(1, 2), keepdims=True)
    mu_v_all = jnp.mean(v, axis=(1, 2), keepdims=True)
    du, dv = u - mu_u_all, v - mu_v_all
    filtered = _filter_valid(jnp.concatenate([du, dv, du * du, dv * dv, du * dv], axis=-1), taps)
    m_du, m_dv, m_uu, m_vv, m_uv = jnp.split(filtered, 5, axis=-1)
    var_u = m_uu - m_du * m_du
    var_v = m_vv - m_dv * m_dv
    cov = m_uv - m_du * m_dv
    mu_u, mu_v = m_du + mu_u_all, m_dv + mu_v_all
    ssim_map = ((2 * mu_u * mu_v + c1) * (2 * cov + c2)) / ((mu_u ** 2 + mu_v ** 2 + c1) * (var_u + var_v + c2))
    # Mean over the valid region of each channel, then over channels.
    return jnp.mean(ssim_map, axis=(1, 2, 3))


def ssim(x: Any, y: Any, data_range: DataRange, *, window_size: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> jax.Array:
    r"""Structural similarity per image (Wang, Bovik, Sheikh & Simoncelli 2004).

    For each channel, with Gaussian-weighted local means mu, variances sigma^2 and covariance
    sigma_xy (population, not sample, moments) at every pixel whose window fits inside the
    image:

    .. math::
        \mathrm{SSIM} = \frac{(2 \mu_x \mu_y + C_1)(2 \sigma_{xy} + C_2)}
                             {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
        \quad C_1 = (k_1 L)^2, \; C_2 = (k_2 L)^2

    averaged over those ('valid') pixels, then over channels. Computed on unit-range images
    (L = 1). With the defaults this matches
    `skimage.metrics.structural_similarity(u, v, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)` on the unit-range images u, v
    (to ~1e-6); scikit-image's border pixels, which use reflected values, are exactly the ones
    it crops before averaging, as here.

    Args:
      x, y: [N, H, W, C] images of the same shape and dtype, uint8 or float, at least
        `window_size` pixels high and wide.
      data_range: the range the images are in, (low, high) or R meaning (0, R).
      window_size: odd width of the Gaussian window, 11 as Wang et al. For small images (e.g.
        8x8) pass a smaller window with a matching sigma: scikit-image's window is
        2 int(3.5 sigma + 0.5) + 1, e.g. window_size=7 with sigma=0.8.
      sigma: standard deviation of the Gaussian window, in pixels.
      k1, k2: the stabilising constants of Wang et al.

    Returns:
      [N] SSIM per image, in [-1, 1]; 1 for identical images.
    """
    x, y, low, high = _check_pair(x, y, data_range)
    options = _ssim_options(x.shape, window_size, sigma, k1, k2)
    return _ssim_unit(_unit(x, low, high), _unit(y, low, high), **options)


def _ssim_options(shape: tuple[int, ...], window_size: int, sigma: float, k1: float, k2: float) -> dict[str, Any]:
    if isinstance(window_size, bool) or not isinstance(window_size, (int, np.integer)) \
            or window_size < 1 or window_size % 2 != 1:
        raise ValueError(f'window_size must be a positive odd integer, got {window_size!r}')
    if not sigma > 0:
        raise ValueError(f'sigma must be positive, got {sigma}')
    if not (k1 > 0 and k2 > 0):
        raise ValueError(f'k1 and k2 must be positive, got {k1} and {k2}')
    if min(shape[1:3]) < window_size:
        raise ValueError(f'SSIM with a {window_size}x{window_size} window needs images at least '
                         f'{window_size}x{window_size}, got {shape[1]}x{shape[2]}; '
                         f'pass a smaller window_size with a matching sigma (e.g. 7 and 0.8)')
    return {'window_size': int(window_size), 'sigma': float(sigma), 'k1': float(k1), 'k2': float(k2)}


def image_quality(x: Any, y: Any, data_range: DataRange, *, window_size: int = 11, sigma: float = 1.5,
                  k1: float = 0.01, k2: float = 0.03) -> dict[str, jax.Array]:
    """{'l1', 'mse', 'psnr', 'ssim'} per image ([N] each) of generated `x` against target `y`.

    The inputs are checked once; L1 and MSE are in [-1, 1] units (see the module docstring).
    The keyword arguments are `ssim`'s. Feed the result to `QualityMeans` or `batch_means`.
    """
    x, y, low, high = _check_pair(x, y, data_range)
    options = _ssim_options(x.shape, window_size, sigma, k1, k2)
    unit_mse = _mse_unit(x, y, high - low)
    return {'l1': 2.0 * _l1_unit(x, y, high - low), 'mse': 4.0 * unit_mse, 'psnr': -10.0 * jnp.log10(unit_mse),
            'ssim': _ssim_unit(_unit(x, low, high), _unit(y, low, high), **options)}


# ----------------------------------------------------------------------------- SR helpers

def rgb_to_luminance(images: Any, data_range: DataRange) -> jax.Array:
    r"""The Y (luma) channel of ITU-R BT.601 YCbCr, on the 0..255 scale, as super-resolution
    papers evaluate.

    For 3-channel images, with R, G, B mapped to [0, 1] (`to_unit_range`):

    .. math::
        Y = 16 + 65.481 R + 128.553 G + 24.966 B \in [16, 235]

    (as MATLAB's `rgb2ycbcr` and `skimage.color.rgb2ycbcr`). 1-channel images are already
    luminance and come back unchanged except for the scale: 255 u, in [0, 255]. Either way the
    result is in 0..255 units, so score it with `data_range=255.0`. Not rounded to integers.

    Args:
      images: [N, H, W, 3] or [N, H, W, 1] uint8 or float images.
      data_range: the range the images are in, (low, high) or R meaning (0, R).

    Returns:
      [N, H, W, 1] float32 (float64 for float64 inputs) luminance.
    """
    images = _check_images(images, 'images')
    if images.shape[-1] not in (1, 3):
        raise ValueError(f'rgb_to_luminance needs 3 (RGB) or 1 (grey) channels, got shape {images.shape}')
    u = to_unit_range(images, data_range)
    if images.shape[-1] == 1:
        return 255.0 * u
    r, g, b = _BT601_LUMA
    return _BT601_OFFSET + (r * u[..., 0:1] + g * u[..., 1:2] + b * u[..., 2:3])


def crop_border(images: Any, pixels: int) -> jax.Array:
    """Removes `pixels` rows and columns from each side of [N, H, W, C] images.

    Super-resolution evaluation crops the scale factor (e.g. 4 pixels for x4), where the
    upsampler lacks context. `pixels=0` returns the images unchanged.

    Args:
      images: [N, H, W, C] images, any dtype.
      pixels: non-negative int, the width cropped from each of the four sides.

    Returns:
      [N, H - 2 pixels, W - 2 pixels, C] images.
    """
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f'images must be NHWC [N, H, W, C], got shape {images.shape}')
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 0:
        raise ValueError(f'pixels must be a non-negative int, got {pixels!r}')
    h, w = images.shape[1:3]
    if 2 * pixels >= min(h, w):
        raise ValueError(f'cropping {pixels} pixels from each side of {h}x{w} images leaves nothing')
    if pixels == 0:
        return images
    return images[:, pixels:h - pixels, pixels:w - pixels, :]


# ----------------------------------------------------------------------------- dataset means

class QualityMeans:
    """Means of per-image metrics over a dataset streamed in batches (float64 numpy sums).

    `update` takes a mapping of per-image values ([n] arrays, e.g. `image_quality`'s output);
    `result` returns the mean of each key over all images, except 'psnr', whose mean is over
    the images with finite PSNR: identical pairs (PSNR +inf) are counted in 'num_identical'
    instead. 'num_images' counts all images. If every pair was identical, 'psnr' is +inf.
    """

    def __init__(self):
        self._sums: dict[str, float] = {}
        self._count = 0
        self._psnr_finite = 0

    @property
    def num_images(self) -> int:
        return self._count

    def update(self, per_image: Mapping[str, Any]) -> QualityMeans:
        values = {k: np.asarray(v, np.float64) for k, v in per_image.items()}
        if not values:
            raise ValueError('per_image is empty: pass e.g. {"psnr": [...], "ssim": [...]}')
        if self._sums and set(values) != set(self._sums):
            raise ValueError(f'metric names changed between batches: {sorted(self._sums)} then {sorted(values)}')
        sizes = {k: v.shape for k, v in values.items()}
        if any(v.ndim != 1 for v in values.values()) or len(set(sizes.values())) != 1:
            raise ValueError(f'per-image values must be 1-D arrays of one length, got shapes {sizes}')
        for k, v in values.items():
            if np.isnan(v).any() or (k != 'psnr' and not np.isfinite(v).all()):
                raise ValueError(f'{k!r} has non-finite per-image values')
        if 'psnr' in values and np.isneginf(values['psnr']).any():
            raise ValueError("'psnr' has -inf values")
        for k, v in values.items():
            finite = v[np.isfinite(v)]  # Only PSNR can hold +inf here.
            self._sums[k] = self._sums.get(k, 0.0) + float(finite.sum())
            if k == 'psnr':
                self._psnr_finite += finite.size
        self._count += next(iter(values.values())).shape[0]
        return self

    def result(self) -> dict[str, float]:
        if self._count == 0:
            raise ValueError('no images: call update first')
        means = {k: s / self._count for k, s in self._sums.items() if k != 'psnr'}
        if 'psnr' in self._sums:
            means['psnr'] = self._sums['psnr'] / self._psnr_finite if self._psnr_finite else math.inf
            means['num_identical'] = self._count - self._psnr_finite
        means['num_images'] = self._count
        return means


def batch_means(per_image_batches: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """`QualityMeans` over an iterable of per-image batches, e.g.

        batch_means(image_quality(fake, real, (-1.0, 1.0)) for fake, real in pairs)

    -> {'l1', 'mse', 'psnr', 'ssim', 'num_identical', 'num_images'}.
    """
    means = QualityMeans()
    for batch in per_image_batches:
        means.update(batch)
    return means.result()
