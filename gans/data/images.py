"""Image preprocessing shared by the builders and the pipeline: square resizing and scaling."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """[H, W, C] uint8 -> [size, size, C] uint8: center-crop to a square, then PIL bicubic.

    (PIL widens the bicubic kernel when shrinking, so downsampling is antialiased.)
    """
    h, w, c = image.shape
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        image = image[top:top + s, left:left + s]
    if image.shape[0] == size:
        return np.ascontiguousarray(image)
    if c == 3:
        return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, k]))
                                .resize((size, size), Image.BICUBIC)) for k in range(c)], -1)


def resize_all(images: np.ndarray, size: int) -> np.ndarray:
    """[N, H, W, C] uint8 -> [N, size, size, C] uint8 with `resize_image` (a no-op at that size)."""
    if images.shape[1:3] == (size, size):
        return images
    if not len(images):
        return np.zeros((0, size, size, images.shape[-1]), images.dtype)
    return np.stack([resize_image(im, size) for im in images])


def to_float_images(x: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, C] -> float32 in [-1, 1] (0 -> -1, 255 -> 1)."""
    return x.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
