"""A small convnet trained on the digits training split, to judge generated digits.

It answers "are all ten digits there, and are they recognisable?": the class histogram of
generated samples and the classifier's mean confidence on them, beside the same numbers for
real held-out digits. Training is seeded and takes seconds on a CPU.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gans import data

NUM_CLASSES = 10


class DigitsClassifier(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[1:] != (32, 32, 1):
            raise ValueError(f'DigitsClassifier expects [N, 32, 32, 1] images in [-1, 1], got {x.shape}')
        for features in (32, 64, 128):
            x = nn.relu(nn.Conv(features, (3, 3), strides=2)(x))
        return nn.Dense(NUM_CLASSES)(x.mean(axis=(1, 2)))


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


def train_classifier(seed: int = 0, steps: int = 1500, batch_size: int = 128,
                     data_dir: str | None = None) -> tuple[dict, float]:
    """Trains on the train split; returns (params, accuracy on the test split)."""
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
            logits = model.apply({'params': p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(labels)[index]).mean()

        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    for i in range(steps):
        params, opt_state = step(params, opt_state, jax.random.fold_in(key, i))
    test_images, test_labels = load_split('test', data_dir)
    accuracy = float(np.mean(predict(params, test_images).argmax(-1) == test_labels))
    return params, accuracy


@jax.jit
def _probabilities(params: dict, images: jax.Array) -> jax.Array:
    return jax.nn.softmax(DigitsClassifier().apply({'params': params}, images))


def predict(params: dict, images: np.ndarray) -> np.ndarray:
    """Class probabilities for images given as uint8 [0, 255] or floats in [-1, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 127.5 - 1.0
    return np.concatenate([np.asarray(_probabilities(params, images[i:i + 1000]))
                           for i in range(0, len(images), 1000)])


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
