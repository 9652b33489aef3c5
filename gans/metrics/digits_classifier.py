"""The digits feature network: a small convnet trained by this library on the digits train split.

It plays Inception's part for `digits`: its 128-d hidden layer gives the features of FID, KID
and precision/recall, and its softmax the class probabilities of the Inception Score and of
"are all ten digits there?". The shipped weights (`weights/digits_classifier.msgpack`, float16,
about 350 kB) come from `python experiments/train_digits_classifier.py` (seed 0), which records
the test accuracy beside them. Strided convolutions use `gans.models.ops.convolution.Conv2D`, whose
gradients are fast on XLA:CPU.
"""
from __future__ import annotations

import dataclasses
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans import data
from gans.metrics import small_classifiers
from gans.models.ops.convolution import Conv2D

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 1)
WEIGHTS_PATH = os.path.join(os.path.dirname(__file__), 'weights', 'digits_classifier.msgpack')


class DigitsClassifier(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
        if x.shape[1:] != IMAGE_SHAPE:
            raise ValueError(f'DigitsClassifier expects [N, 32, 32, 1] images in [-1, 1], got {x.shape}')
        for features in (16, 32, 64):
            x = nn.relu(Conv2D(features, 4, strides=2, padding=1)(x))
        hidden = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
        return {'features': hidden, 'logits': nn.Dense(NUM_CLASSES)(hidden)}


def load_split(split: str, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All of a digits split as (images in [-1, 1] float32 NHWC, int labels)."""
    size = data.dataset_spec('digits', data_dir=data_dir).num_examples[split]
    batch = next(data.make_iterator('digits', split=split, global_batch_size=size, seed=0, shuffle=False,
                                    num_epochs=1, data_dir=data_dir, process_index=0, process_count=1))
    return batch['x'], batch['label']


def _random_shift(key: jax.Array, images: jax.Array, max_shift: int = 2) -> jax.Array:
    """Shifts each image by up to `max_shift` pixels so the classifier tolerates imprecise strokes."""
    shifts = jax.random.randint(key, (images.shape[0], 2), -max_shift, max_shift + 1)
    padded = jnp.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), constant_values=-1)
    crop = lambda img, s: jax.lax.dynamic_slice(img, (max_shift + s[0], max_shift + s[1], 0), images.shape[1:])
    return jax.vmap(crop)(padded, shifts)


def train_classifier(seed: int = 0, steps: int = 2000, batch_size: int = 128,
                     data_dir: str | None = None) -> tuple[dict, float]:
    """Trains on the train split (random shifts as augmentation); returns (params, test accuracy)."""
    images, labels = load_split('train', data_dir)
    model = DigitsClassifier()
    key = jax.random.key(seed)
    params = model.init(key, images[:1])['params']
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, key):
        index_key, shift_key = jax.random.split(key)
        index = jax.random.randint(index_key, (batch_size,), 0, images.shape[0])
        x = _random_shift(shift_key, jnp.asarray(images)[index])

        def loss_fn(p):
            logits = model.apply({'params': p}, x)['logits']
            return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(labels)[index]).mean()

        updates, opt_state = tx.update(jax.grad(loss_fn)(params), opt_state)
        return optax.apply_updates(params, updates), opt_state

    for i in range(steps):
        params, opt_state = step(params, opt_state, jax.random.fold_in(key, i))
    return params, test_accuracy(params, data_dir)


def test_accuracy(params: dict, data_dir: str | None = None) -> float:
    test_images, test_labels = load_split('test', data_dir)
    return float(np.mean(predict(params, test_images).argmax(-1) == test_labels))


_SCRIPT = 'python experiments/train_digits_classifier.py'


def save_params(params: dict, path: str = WEIGHTS_PATH) -> None:
    small_classifiers.save_params(params, path)


def load_params(path: str = WEIGHTS_PATH) -> dict:
    return small_classifiers.load_params(path, DigitsClassifier(), IMAGE_SHAPE, _SCRIPT)


@jax.jit
def _embed(params: dict, images: jax.Array) -> dict[str, jax.Array]:
    out = DigitsClassifier().apply({'params': params}, images)
    return {'features': out['features'], 'probs': jax.nn.softmax(out['logits'])}


def to_network_input(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] or float [-1, 1] NHWC -> float32 [-1, 1] at 32x32x1 (bilinear resize if needed)."""
    return small_classifiers.to_network_input(images, IMAGE_SHAPE, 'digits')


def embed(params: dict, images: np.ndarray, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Features [N, 128] and class probabilities [N, 10] of uint8 or [-1, 1] float images
    (other sizes than 32x32 are resized bilinearly)."""
    return small_classifiers.embed(_embed, params, to_network_input(images), batch_size)


def predict(params: dict, images: np.ndarray) -> np.ndarray:
    """Class probabilities [N, 10]."""
    return embed(params, images)['probs']


@dataclasses.dataclass(frozen=True)
class SampleReport:
    """How a set of images is classified: per-class fractions and confidence."""
    num_samples: int
    class_fractions: list[float]
    mean_confidence: float
    classes_present: int  # classes with at least `min_fraction` of the samples

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def report(probabilities: np.ndarray, min_fraction: float = 0.02) -> SampleReport:
    predicted = probabilities.argmax(-1)
    fractions = np.bincount(predicted, minlength=NUM_CLASSES) / len(predicted)
    return SampleReport(num_samples=len(predicted), class_fractions=[round(float(f), 4) for f in fractions],
                        mean_confidence=float(probabilities.max(-1).mean()),
                        classes_present=int(np.sum(fractions >= min_fraction)))
