"""Full-reference image quality (gans.metrics.image_quality): closed forms, scikit-image
references for PSNR and SSIM on random and natural images, and the range conventions."""

import math

import jax
import numpy as np
import pytest

skimage = pytest.importorskip('skimage')
from skimage import color, data, metrics  # noqa: E402

from gans.metrics import image_quality as iq  # noqa: E402

SIGNED = (-1.0, 1.0)


def _skimage_ssim(a, b, data_range, sigma=1.5):
    return metrics.structural_similarity(a, b, gaussian_weights=True, sigma=sigma, use_sample_covariance=False,
                                         data_range=data_range, channel_axis=-1)


def _signed(images_uint8):
    """uint8 -> the library's float32 [-1, 1]."""
    return (images_uint8.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def _noisy(images_uint8, std, seed):
    rng = np.random.default_rng(seed)
    return np.clip(np.round(images_uint8 + rng.normal(0, std, images_uint8.shape)), 0, 255).astype(np.uint8)


def _natural(rgb: bool):
    # 48x48 crops with edges and texture (the astronaut's face, the cameraman's coat and tripod).
    return data.astronaut()[60:108, 180:228] if rgb else data.camera()[200:248, 230:278, None]


def _random(rgb: bool, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (2, 24, 20, 3 if rgb else 1), dtype=np.uint8)


# ----------------------------------------------------------------------------- PSNR

@pytest.mark.parametrize('dtype', ['uint8', 'float32'])
def test_psnr_of_an_image_with_itself_is_inf(dtype):
    x = _random(True)
    x, data_range = (x, 255) if dtype == 'uint8' else (_signed(x), SIGNED)
    assert np.all(np.isposinf(np.asarray(iq.psnr(x, x, data_range))))


@pytest.mark.parametrize('low, high, d', [(100, 110, 10), (110, 100, 10), (-0.5, -0.25, 0.25), (0.75, 0.25, 0.5)])
def test_psnr_of_a_constant_shift_is_the_closed_form(low, high, d):
    # (110, 100) checks that uint8 differences are taken after the cast (no wraparound).
    is_uint8 = isinstance(low, int)
    dtype, data_range, width = (np.uint8, 255, 255.0) if is_uint8 else (np.float32, SIGNED, 2.0)
    x, y = np.full((2, 5, 7, 3), low, dtype), np.full((2, 5, 7, 3), high, dtype)
    expected = 10 * math.log10(width ** 2 / d ** 2)
    np.testing.assert_allclose(np.asarray(iq.psnr(x, y, data_range)), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(iq.mse(x, y, data_range)), (2 * d / width) ** 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(iq.l1(x, y, data_range)), 2 * d / width, rtol=1e-6)


def test_psnr_is_per_image():
    x = np.zeros((2, 4, 4, 1), np.uint8)
    y = x.copy()
    y[1] = 5
    got = np.asarray(iq.psnr(x, y, 255))
    assert np.isposinf(got[0]) and got[1] == pytest.approx(10 * math.log10(255 ** 2 / 25), rel=1e-6)


# ----------------------------------------------------------------------------- scikit-image references

@pytest.mark.parametrize('source', ['random', 'natural'])
@pytest.mark.parametrize('rgb', [False, True])
def test_psnr_and_ssim_match_skimage_on_uint8(source, rgb):
    x = _random(rgb) if source == 'random' else _natural(rgb)[None]
    y = _noisy(x, 25, seed=1)
    got_psnr, got_ssim = np.asarray(iq.psnr(x, y, 255)), np.asarray(iq.ssim(x, y, 255))
    want_psnr = [metrics.peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(x, y)]
    want_ssim = [_skimage_ssim(a, b, 255) for a, b in zip(x, y)]
    np.testing.assert_allclose(got_psnr, want_psnr, rtol=1e-5)
    np.testing.assert_allclose(got_ssim, want_ssim, atol=1e-4)
    assert 0.05 < min(want_ssim) and max(want_ssim) < 0.99  # Not a degenerate case.


@pytest.mark.parametrize('source', ['random', 'natural'])
@pytest.mark.parametrize('rgb', [False, True])
def test_psnr_and_ssim_match_skimage_on_signed_floats(source, rgb):
    if source == 'random':  # Continuous values, not quantized.
        rng = np.random.default_rng(2)
        x = rng.uniform(-1, 1, (2, 24, 20, 3 if rgb else 1)).astype(np.float32)
        y = np.clip(x + rng.normal(0, 0.2, x.shape), -1, 1).astype(np.float32)
    else:
        natural = _natural(rgb)[None]
        x, y = _signed(natural), _signed(_noisy(natural, 25, seed=3))
    # PSNR does not depend on the offset: skimage on the raw [-1, 1] values, range width 2.
    want_psnr = [metrics.peak_signal_noise_ratio(a.astype(np.float64), b.astype(np.float64), data_range=2)
                 for a, b in zip(x, y)]
    # SSIM is taken on the images mapped to [0, 1].
    unit = lambda a: (a.astype(np.float64) + 1) / 2
    want_ssim = [_skimage_ssim(unit(a), unit(b), 1.0) for a, b in zip(x, y)]
    np.testing.assert_allclose(np.asarray(iq.psnr(x, y, SIGNED)), want_psnr, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(iq.ssim(x, y, SIGNED)), want_ssim, atol=1e-4)


def test_skimage_on_raw_signed_values_differs_which_is_why_we_shift():
    # Guards the documented convention: SSIM's luminance term depends on the offset.
    natural = _natural(True)[None]
    x, y = _signed(natural), _signed(_noisy(natural, 25, seed=3))
    raw = _skimage_ssim(x[0].astype(np.float64), y[0].astype(np.float64), 2.0)
    assert abs(float(iq.ssim(x, y, SIGNED)[0]) - raw) > 1e-3


def test_small_window_matches_skimage_on_8x8_images():
    x = _random(True)[:, :8, :8]
    y = _noisy(x, 30, seed=4)
    want = [_skimage_ssim(a, b, 255, sigma=0.8) for a, b in zip(x, y)]  # skimage: 7-tap window
    np.testing.assert_allclose(np.asarray(iq.ssim(x, y, 255, window_size=7, sigma=0.8)), want, atol=1e-4)


def test_ssim_rejects_images_smaller_than_the_window():
    x = _random(False)[:, :8, :8]
    with pytest.raises(ValueError, match='at least 11x11'):
        iq.ssim(x, x, 255)


# ----------------------------------------------------------------------------- SSIM properties

def test_ssim_of_an_image_with_itself_is_one():
    x = _natural(True)[None]
    np.testing.assert_allclose(np.asarray(iq.ssim(x, x, 255)), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(iq.ssim(_signed(x), _signed(x), SIGNED)), 1.0, atol=1e-6)


def test_ssim_is_symmetric_and_lower_for_a_noisier_copy():
    x = _natural(False)[None]
    slightly, very = _noisy(x, 5, seed=5), _noisy(x, 40, seed=6)
    np.testing.assert_allclose(np.asarray(iq.ssim(x, very, 255)), np.asarray(iq.ssim(very, x, 255)), atol=1e-6)
    assert float(iq.ssim(x, slightly, 255)[0]) > float(iq.ssim(x, very, 255)[0]) + 0.1


def test_uint8_and_signed_paths_agree():
    x = _natural(True)[None]
    y = _noisy(x, 20, seed=7)
    a, b = iq.image_quality(x, y, 255), iq.image_quality(_signed(x), _signed(y), SIGNED)
    for key in ('l1', 'mse', 'psnr', 'ssim'):
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=1e-5, err_msg=key)
    # L1 and MSE are in [-1, 1] units, whatever the input range.
    np.testing.assert_allclose(np.asarray(a['l1']), np.abs(_signed(x) - _signed(y)).mean(), rtol=1e-5)


def test_functions_work_under_jit():
    x = _signed(_natural(True)[None])
    y = _signed(_noisy(_natural(True)[None], 20, seed=8))
    jitted = jax.jit(lambda a, b: iq.image_quality(a, b, SIGNED))(x, y)
    eager = iq.image_quality(x, y, SIGNED)
    for key in eager:
        np.testing.assert_allclose(np.asarray(jitted[key]), np.asarray(eager[key]), rtol=1e-6, err_msg=key)


# ----------------------------------------------------------------------------- conventions are checked

def test_conventions_are_checked():
    x8 = _random(True)
    with pytest.raises(ValueError, match='uint8 images span'):
        iq.psnr(x8, x8, 1.0)
    with pytest.raises(ValueError, match='same dtype'):
        iq.psnr(x8, _signed(x8), SIGNED)
    with pytest.raises(ValueError, match='outside data_range'):
        iq.ssim(_signed(x8), _signed(x8), 1.0)  # [-1, 1] images declared as [0, 1]
    with pytest.raises(ValueError, match='same shape'):
        iq.l1(x8, x8[:, :-1], 255)
    with pytest.raises(ValueError, match='NHWC'):
        iq.mse(x8[0], x8[0], 255)


# ----------------------------------------------------------------------------- super-resolution helpers

def test_luminance_of_white_and_black_and_of_grey_images():
    pixels = np.array([[[[255, 255, 255], [0, 0, 0]]]], np.uint8)
    np.testing.assert_allclose(np.asarray(iq.rgb_to_luminance(pixels, 255))[0, 0, :, 0], [235.0, 16.0], atol=1e-4)
    np.testing.assert_allclose(np.asarray(iq.rgb_to_luminance(_signed(pixels), SIGNED))[0, 0, :, 0], [235.0, 16.0],
                               atol=1e-4)
    grey = _random(False)
    np.testing.assert_allclose(np.asarray(iq.rgb_to_luminance(grey, 255)), grey.astype(np.float32))
    np.testing.assert_allclose(np.asarray(iq.rgb_to_luminance(_signed(grey), SIGNED)), grey, atol=1e-4)


def test_luminance_matches_skimage_rgb2ycbcr():
    x = _random(True)
    want = np.stack([color.rgb2ycbcr(a)[..., :1] for a in x])
    np.testing.assert_allclose(np.asarray(iq.rgb_to_luminance(x, 255)), want, atol=1e-3)


@pytest.mark.parametrize('pixels', [0, 1, 3])
def test_crop_border_removes_exactly_pixels_on_each_side(pixels):
    x = np.arange(2 * 9 * 11 * 2).reshape(2, 9, 11, 2)
    got = np.asarray(iq.crop_border(x, pixels))
    assert got.shape == (2, 9 - 2 * pixels, 11 - 2 * pixels, 2)
    np.testing.assert_array_equal(got, x[:, pixels:9 - pixels, pixels:11 - pixels])
    with pytest.raises(ValueError, match='leaves nothing'):
        iq.crop_border(x, 5)


# ----------------------------------------------------------------------------- dataset means

def test_batch_means_over_streamed_batches():
    x = _random(True, seed=9)
    y = _noisy(x, 20, seed=10)
    y[1] = x[1]  # One identical pair: PSNR +inf, left out of PSNR's mean and counted.
    x, y = np.concatenate([x, x]), np.concatenate([y, y])  # 4 pairs
    per_image = {k: np.asarray(v) for k, v in iq.image_quality(x, y, 255).items()}
    batches = (iq.image_quality(x[i:i + 3], y[i:i + 3], 255) for i in (0, 3))  # batches of 3 and 1
    got = iq.batch_means(batches)
    assert got['num_images'] == 4 and got['num_identical'] == 2
    assert got['psnr'] == pytest.approx(per_image['psnr'][[0, 2]].mean(), rel=1e-6)
    for key in ('l1', 'mse', 'ssim'):
        assert got[key] == pytest.approx(per_image[key].mean(), rel=1e-6), key
    assert iq.batch_means([{'psnr': [math.inf]}]) == {'psnr': math.inf, 'num_identical': 1, 'num_images': 1}
