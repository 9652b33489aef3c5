"""GAN objectives as pure functions of discriminator (critic) outputs.

Every loss here is a quantity its player MINIMIZES, averaged over the batch, so a
train step always descends. "Logits" are the discriminator's pre-sigmoid outputs:
D(x) = sigmoid(logit). The log-probabilities go through ``log_sigmoid`` (with
log(1 - sigmoid(l)) = log_sigmoid(-l)) so that saturated logits stay finite.

Least squares, Wasserstein and hinge losses read the raw output directly (no
sigmoid): for them the "logit" is the critic value itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

# --------------------------------------------------------------------------- #
# Minimax GAN (Goodfellow et al., 2014) and its non-saturating generator loss. #
# --------------------------------------------------------------------------- #


def d_minimax(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """-[E log D(x) + E log(1 - D(G(z)))]: binary cross-entropy, real=1, fake=0."""
    return -(
        jnp.mean(jax.nn.log_sigmoid(real_logits))
        + jnp.mean(jax.nn.log_sigmoid(-fake_logits))
    )


def g_saturating(fake_logits: jax.Array) -> jax.Array:
    """E log(1 - D(G(z))): the generator's side of the minimax value.

    Its gradient vanishes when D confidently rejects fakes (early training).
    """
    return jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def g_nonsaturating(fake_logits: jax.Array) -> jax.Array:
    """-E log D(G(z)): same fixed point as the minimax loss, strong early gradients."""
    return -jnp.mean(jax.nn.log_sigmoid(fake_logits))


# --------------------------------------------------------------------------- #
# Least squares GAN (Mao et al., 2017) with targets a=0 (fake), b=1 (real),    #
# c=1 (what G wants D to say). Optimal D is p_r / (p_r + p_g).                 #
# --------------------------------------------------------------------------- #


def d_least_squares(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2 on the raw discriminator output."""
    return 0.5 * jnp.mean(jnp.square(real_logits - 1.0)) + 0.5 * jnp.mean(
        jnp.square(fake_logits)
    )


def g_least_squares(fake_logits: jax.Array) -> jax.Array:
    """1/2 E (D(G(z)) - 1)^2 on the raw discriminator output."""
    return 0.5 * jnp.mean(jnp.square(fake_logits - 1.0))


# --------------------------------------------------------------------------- #
# Wasserstein GAN (Arjovsky et al., 2017): the critic estimates W1 by         #
# maximizing E f(x) - E f(G(z)) over (approximately) 1-Lipschitz f.            #
# --------------------------------------------------------------------------- #


def d_wasserstein(real_critic: jax.Array, fake_critic: jax.Array) -> jax.Array:
    """E f(G(z)) - E f(x): the negated Wasserstein-1 estimate."""
    return jnp.mean(fake_critic) - jnp.mean(real_critic)


def g_wasserstein(fake_critic: jax.Array) -> jax.Array:
    """-E f(G(z))."""
    return -jnp.mean(fake_critic)


# --------------------------------------------------------------------------- #
# Hinge loss (Lim & Ye 2017; used by SN-GAN, BigGAN).                          #
# --------------------------------------------------------------------------- #


def d_hinge(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))."""
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(
        jax.nn.relu(1.0 + fake_logits)
    )


def g_hinge(fake_logits: jax.Array) -> jax.Array:
    """-E D(G(z))."""
    return -jnp.mean(fake_logits)


# --------------------------------------------------------------------------- #
# Gradient regularizers on the critic's input gradient.                        #
# --------------------------------------------------------------------------- #


def _input_gradients(
    critic: Callable[[jax.Array], jax.Array], inputs: jax.Array
) -> jax.Array:
    # Differentiating the batch sum gives each example's own gradient as long as
    # the critic treats examples independently (no batch statistics).
    return jax.grad(lambda x: jnp.sum(critic(x)))(inputs)


def _per_example_sq_norm(grads: jax.Array) -> jax.Array:
    return jnp.sum(jnp.square(grads), axis=tuple(range(1, grads.ndim)))


def gradient_penalty(
    critic: Callable[[jax.Array], jax.Array],
    real: jax.Array,
    fake: jax.Array,
    key: jax.Array,
) -> jax.Array:
    """WGAN-GP (Gulrajani et al., 2017): E[(||grad_x f(x_hat)||_2 - 1)^2].

    x_hat = eps * real + (1 - eps) * fake with one eps ~ U[0, 1] per example; the
    norm runs over all non-batch axes. The caller multiplies by the weight (10).
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"gradient_penalty needs real and fake of the same shape, got "
            f"{real.shape} and {fake.shape}"
        )
    if real.ndim < 1:
        raise ValueError("gradient_penalty needs a leading batch axis")
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = jax.random.uniform(key, eps_shape, dtype=real.dtype)
    interpolates = eps * real + (1.0 - eps) * fake
    sq_norm = _per_example_sq_norm(_input_gradients(critic, interpolates))
    # sqrt has an infinite derivative at 0; a zero input gradient (e.g. a fresh
    # critic) would turn the double-backprop into NaN without this guard.
    nonzero = sq_norm > 0
    norm = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq_norm, 1.0)), 0.0)
    return jnp.mean(jnp.square(norm - 1.0))


def r1_penalty(critic: Callable[[jax.Array], jax.Array], real: jax.Array) -> jax.Array:
    """R1 (Mescheder et al., 2018): E ||grad_x f(x)||^2 on real data.

    The caller multiplies by gamma / 2.
    """
    if real.ndim < 1:
        raise ValueError("r1_penalty needs a leading batch axis")
    return jnp.mean(_per_example_sq_norm(_input_gradients(critic, real)))


# --------------------------------------------------------------------------- #
# Named objectives: a (D loss, G loss) pair plus the regularizer defaults      #
# that come with it in the original papers.                                    #
# --------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class Objective:
    """A GAN objective: what each player minimizes, and its usual regularizers."""

    name: str
    d_loss: Callable[[jax.Array, jax.Array], jax.Array]
    g_loss: Callable[[jax.Array], jax.Array]
    gradient_penalty_weight: float = 0.0
    weight_clip: float | None = None


OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective("minimax", d_minimax, g_saturating),
    "nonsaturating": Objective("nonsaturating", d_minimax, g_nonsaturating),
    "lsgan": Objective("lsgan", d_least_squares, g_least_squares),
    "wgan": Objective("wgan", d_wasserstein, g_wasserstein, weight_clip=0.01),
    "wgan_gp": Objective(
        "wgan_gp", d_wasserstein, g_wasserstein, gradient_penalty_weight=10.0
    ),
    "hinge": Objective("hinge", d_hinge, g_hinge),
}


def get_objective(name: str) -> Objective:
    """Looks up an objective by name; unknown names list the valid ones."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(
            f"unknown GAN objective {name!r}; valid: {', '.join(sorted(OBJECTIVES))}"
        ) from None
