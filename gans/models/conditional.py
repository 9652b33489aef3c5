"""Networks that take a class label or a latent code beside z or x, built around any base network.

Generators (inputs concatenated to z, then the base generator G(z')):
- `ConditionalGenerator`: G(z, labels), z' = [z, one_hot(labels)] (or a learned embedding);
- `InfoGenerator`: InfoGAN's G(z, codes, continuous_codes), z' = [z, one_hot(codes), continuous_codes].

Discriminators (the base is a `DCGANDiscriminator` or `MLPDiscriminator`, which return their trunk
features phi(x) with `return_features=True`):
- `ConditionalDiscriminator` D(x, labels), `mode`:
  'concat': one-hot label maps appended to x as extra input channels (for 2-D points, extra
  features), so the base must be built for the wider input (`widen_input`);
  'projection' (Miyato & Koyama 2018): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, psi being
  the base's own output layer;
- `AuxiliaryClassifierDiscriminator` (ACGAN): (real/fake logit, class logits), the class head a
  linear layer on phi(x);
- `InfoDiscriminator`: (real/fake logit, Q's categorical logits, Q's continuous-code means),
  Q a small hidden layer on phi(x), so Q's parameters are part of D's.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

CONDITIONAL_DISCRIMINATORS = ('projection', 'concat')


def _label_features(labels: jax.Array, num_classes: int, embedding_dim: int) -> jax.Array:
    """One-hot labels [N, K], or a learned embedding [N, embedding_dim] when it is > 0 (in the caller's scope)."""
    if labels.ndim != 1:
        raise ValueError(f'labels must be int [N], got shape {labels.shape}')
    if embedding_dim:
        return nn.Embed(num_classes, embedding_dim, name='label_embedding')(labels)
    return jax.nn.one_hot(labels, num_classes)


class ConditionalGenerator(nn.Module):
    """G(z, labels) = base([z, one_hot(labels)]); with `embedding_dim` > 0, a learned embedding instead."""
    base: nn.Module
    num_classes: int
    embedding_dim: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array, train: bool = True) -> jax.Array:
        condition = _label_features(labels, self.num_classes, self.embedding_dim).astype(z.dtype)
        return self.base(jnp.concatenate([z, condition], axis=-1), train=train)


class InfoGenerator(nn.Module):
    """InfoGAN's G(z, c) = base([z, one_hot(codes), continuous_codes]); no continuous codes when 0."""
    base: nn.Module
    num_categories: int
    num_continuous: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, codes: jax.Array, continuous_codes: jax.Array | None = None,
                 train: bool = True) -> jax.Array:
        inputs = [z, jax.nn.one_hot(codes, self.num_categories, dtype=z.dtype)]
        if self.num_continuous:
            if continuous_codes is None or continuous_codes.shape[-1] != self.num_continuous:
                got = None if continuous_codes is None else continuous_codes.shape
                raise ValueError(f'InfoGenerator expects continuous_codes [N, {self.num_continuous}], got {got}')
            inputs.append(continuous_codes.astype(z.dtype))
        return self.base(jnp.concatenate(inputs, axis=-1), train=train)


def widen_input(discriminator: nn.Module, extra: int) -> nn.Module:
    """The base discriminator rebuilt to take `extra` more features on the input's last axis
    (channels of images, coordinates of points): what the 'concat' conditional D feeds it."""
    if hasattr(discriminator, 'channels'):
        return discriminator.clone(channels=discriminator.channels + extra)
    if hasattr(discriminator, 'input_shape'):
        *leading, last = discriminator.input_shape
        return discriminator.clone(input_shape=(*leading, last + extra))
    raise ValueError(f'cannot widen the input of {type(discriminator).__name__}: it has neither '
                     f'`channels` nor `input_shape`')


def _projection_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    # Unit-variance features summed over F entries: std 1/sqrt(F) keeps <embed(y), phi(x)> O(1) at init.
    return jax.random.normal(key, shape, dtype) / math.sqrt(shape[-1])


class ConditionalDiscriminator(nn.Module):
    """D(x, labels) -> logits [N]; `mode` 'projection' or 'concat' (the base built by `widen_input`)."""
    base: nn.Module
    num_classes: int
    mode: str = 'projection'

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array, train: bool = True) -> jax.Array:
        if self.mode not in CONDITIONAL_DISCRIMINATORS:
            raise ValueError(f'unknown conditional discriminator {self.mode!r}; '
                             f'valid: {list(CONDITIONAL_DISCRIMINATORS)}')
        if labels.shape != x.shape[:1]:
            raise ValueError(f'labels must be int [N] for inputs of shape {x.shape}, got {labels.shape}')
        if self.mode == 'concat':
            maps = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)
            maps = jnp.broadcast_to(maps.reshape(x.shape[0], *(1,) * (x.ndim - 2), self.num_classes),
                                    (*x.shape[:-1], self.num_classes))
            return self.base(jnp.concatenate([x, maps], axis=-1), train=train)
        logits, features = self.base(x, train=train, return_features=True)
        embedding = nn.Embed(self.num_classes, features.shape[-1], embedding_init=_projection_init,
                             name='projection')(labels)
        projection = jnp.sum(embedding * features.astype(jnp.float32), axis=-1)
        return logits.astype(jnp.float32) + projection


class AuxiliaryClassifierDiscriminator(nn.Module):
    """ACGAN's D(x) -> (real/fake logits [N], class logits [N, num_classes]) from one trunk."""
    base: nn.Module
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        logits, features = self.base(x, train=train, return_features=True)
        return logits, nn.Dense(self.num_classes, name='class_head')(features).astype(jnp.float32)


class InfoDiscriminator(nn.Module):
    """InfoGAN's D(x) -> (real/fake logits [N], Q's code logits [N, categories], Q's means [N, continuous])."""
    base: nn.Module
    num_categories: int
    num_continuous: int = 0
    q_hidden: int = 128

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array, jax.Array]:
        logits, features = self.base(x, train=train, return_features=True)
        h = nn.leaky_relu(nn.Dense(self.q_hidden, name='q_hidden')(features), 0.2)
        code_logits = nn.Dense(self.num_categories, name='q_categorical')(h).astype(jnp.float32)
        if self.num_continuous:
            means = nn.Dense(self.num_continuous, name='q_continuous')(h).astype(jnp.float32)
        else:
            means = jnp.zeros((x.shape[0], 0), jnp.float32)
        return logits, code_logits, means
