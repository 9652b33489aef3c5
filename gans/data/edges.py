"""Edge maps in the style of pix2pix's edges2shoes: Canny edges drawn black on white.

edges2shoes (Isola et al. 2017) pairs each product photo with its HED edge map; here the edges
come from scikit-image's Canny detector (no network to download), with parameters picked by
looking at Fashion-MNIST footwear at 32x32:

- sigma 1.0: the Gaussian smoothing before the gradients. At 32x32 a shoe's sole, laces and
  straps are 2-4 pixels apart; sigma 1.5 or more merges them into the outline, sigma < 1
  traces the fabric texture.
- thresholds 0.1 / 0.2 on the gradient magnitude of the smoothed image in [0, 1] (absolute,
  not quantiles, so the amount of line follows the image's contrast): the object's outline
  (a step from the black background, magnitude ~0.3-1) always passes the high threshold, and
  hysteresis keeps the main internal lines (sole, tongue, straps) connected to it; lower
  thresholds add broken fragments of texture.
"""

from __future__ import annotations

import numpy as np

SIGMA = 1.0
LOW_THRESHOLD = 0.1
HIGH_THRESHOLD = 0.2
EDGE, BACKGROUND = 0, 255  # uint8 values: black lines on white, as in edges2shoes.


def canny_mask(image: np.ndarray) -> np.ndarray:
    """bool [H, W]: the Canny edges of a grayscale uint8 image [H, W] or [H, W, 1]."""
    from skimage import feature  # pylint: disable=g-import-not-at-top  (only building needs it)
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.ndim == 3 and image.shape[-1] == 1):
        raise ValueError(f'canny_mask takes a grayscale uint8 image [H, W] or [H, W, 1], got '
                         f'{image.dtype} {image.shape}.')
    gray = image.reshape(image.shape[:2]).astype(np.float64) / 255.0
    return feature.canny(gray, sigma=SIGMA, low_threshold=LOW_THRESHOLD,
                         high_threshold=HIGH_THRESHOLD)


def edge_map(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 1]: EDGE (0) on the Canny edges of `image`, BACKGROUND (255) elsewhere.

    `image`: grayscale uint8 [H, W, 1] (or [H, W]); see the module docstring for the parameters.
    """
    mask = canny_mask(image)
    return np.where(mask, EDGE, BACKGROUND).astype(np.uint8)[:, :, None]
