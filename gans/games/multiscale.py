"""pix2pixHD's losses (Wang et al. 2018): adversarial terms over several discriminators, and
discriminator feature matching.

A discriminator's output here is what `gans.models.multiscale.MultiScaleDiscriminator` returns,
a list with one entry per scale, or a single discriminator's output (one scale). An entry is the
logits, or (logits, hidden features) when the discriminator was called with `features=True`.

    L_D = sum_k l_D(D_k(real), D_k(fake))          L_G,adv = sum_k l_G(D_k(fake))

as the paper's code sums its GAN loss over scales (one scale: the plain losses). Feature
matching, with D_k^(l) the activation after hidden layer l (of L) of scale k (of K):

    L_FM = sum_k 1/K sum_l 4/L E |D_k^(l)(real) - D_k^(l)(fake)|_1

the paper's weights (its code: 1/num_D per scale, 4/(n_layers_D + 1) per layer), added to G's
loss times lambda_feat (10 in the paper), with the real features held constant. Paired (pix2pix)
matches example by example; unpaired (CycleGAN: real and fake are different images) matches the
batch means of the features instead, Salimans et al.'s (2016) form.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gans import losses

FEATURE_LAYER_WEIGHT = 4.0  # the paper's code: each of L layers weighs 4 / L


def scales(output: Any) -> list:
    """The per-scale entries of a discriminator's output (one for a single discriminator)."""
    return output if isinstance(output, list) else [output]


def d_loss(objective: losses.Objective, real: Any, fake: Any) -> jax.Array:
    """sum_k l_D(real_k, fake_k) over the scales' logits."""
    return sum(objective.d_loss(r, f) for r, f in zip(scales(real), scales(fake), strict=True))


def g_loss(objective: losses.Objective, fake: Any) -> jax.Array:
    """sum_k l_G(fake_k) over the scales' logits."""
    return sum(objective.g_loss(f) for f in scales(fake))


def mean_logit(output: Any) -> jax.Array:
    """The mean logit over the scales (each scale's mean counts once), for logging."""
    return jnp.mean(jnp.stack([jnp.mean(logits) for logits in scales(output)]))


def split_features(output: Any) -> tuple[Any, list]:
    """(logits in the output's own form, [features of each scale]) of an output called with
    `features=True`."""
    entries = scales(output)
    logits = [entry[0] for entry in entries]
    return (logits if isinstance(output, list) else logits[0]), [entry[1] for entry in entries]


def feature_matching_loss(real_features: list, fake_features: list, *, paired: bool = True) -> jax.Array:
    """sum_k 1/K sum_l 4/L E|real_kl - fake_kl| over scales k and hidden layers l.

    Args:
      real_features, fake_features: per scale, the tuple of hidden activations [N, h, w, c] (as
        `split_features` gives them); the real ones are taken as constants.
      paired: real[i] is fake[i]'s target (match example by example); else match the batch
        means of each activation.
    """
    total = 0.0
    for real, fake in zip(real_features, fake_features, strict=True):
        for r, f in zip(real, fake, strict=True):
            r = jax.lax.stop_gradient(r)
            if not paired:
                r, f = r.mean(0), f.mean(0)
            total = total + FEATURE_LAYER_WEIGHT / len(real) * jnp.mean(jnp.abs(r - f))
    return total / len(real_features)
