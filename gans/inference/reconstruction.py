"""What a trained VAE-family run says about held-out images: its ELBO, and its reconstructions.

- `heldout_elbo`: the ELBO of every image of a split (the test split by default), in nats per
  image, averaged over the split. E_q[log p(x|z)] is a Monte-Carlo mean over `posterior_samples`
  reparameterised z per image (16 by default); the KL is in closed form. The same samples give
  the importance-weighted bound (Burda et al. 2016), ELBO <= IWAE_K <= log p(x). For the
  Bernoulli decoder on grey levels the result also names `reconstruction_floor`, the least
  -log p(x|z) any decoder can reach there (the summed binary entropies of the grey levels),
  since the cross-entropy of a non-binary target never reaches 0.
- `reconstructions`: the first `num` images of a split and their reconstructions (the decoder's
  mean image at the posterior mean), written as an .npz (`images`, `reconstructions`, `labels`,
  uint8 NHWC / int32) and a PNG with each row of originals above its row of reconstructions.

The generator's EMA parameters are used when the run keeps them, as for samples. `gans
reconstruct --workdir W` runs both and prints the ELBO as JSON.
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gans import data, elbo
from gans.inference import runs, sampling
from gans.games.vae import bound_terms
from gans.models.vae import VAE
from gans.engine.state import GANState

DEFAULT_POSTERIOR_SAMPLES = 16
DEFAULT_NUM_RECONSTRUCTIONS = 64
PNG_COLUMNS = 16


def check_vae(state: GANState) -> VAE:
    """The run's VAE; a ValueError for a run of a game without an encoder."""
    network = state.generator.network
    if not isinstance(network, VAE):
        raise ValueError(f'reconstruction needs a run of a VAE game (vae, cvae, vaegan); this generator is a '
                         f'{type(network).__name__}, which has no encoder')
    return network


def split_batches(config: ml_collections.ConfigDict, split: str, *, batch_size: int | None = None):
    """`runs.split_batches` of an image dataset (a VAE encodes `x`)."""
    if data.config_spec(config).kind != 'image':
        raise ValueError(f'{config.dataset} holds {data.config_spec(config).kind} examples, not images')
    return runs.split_batches(config, split, batch_size=batch_size)


def _labels(module: VAE, batch: dict) -> jax.Array | None:
    return jnp.asarray(batch['label'], jnp.int32) if module.decoder.num_classes else None


@functools.partial(jax.jit, static_argnames='num_samples')
def _bound_of_batch(state: GANState, x: jax.Array, labels: jax.Array | None, key: jax.Array,
                    num_samples: int) -> dict[str, jax.Array]:
    terms = bound_terms(state.generator.network, state.generator.ema_params, x, labels, key, num_samples)
    log_likelihood = terms.log_likelihood.mean(axis=0)
    result = {'elbo': elbo.elbo(log_likelihood, terms.kl), 'kl': terms.kl, 'reconstruction': -log_likelihood,
              'importance_weighted_bound': elbo.importance_weighted_bound(terms.log_likelihood, terms.z,
                                                                          terms.mean, terms.log_var)}
    if state.generator.network.decoder_kind == 'bernoulli':
        t = jnp.clip(elbo.grey_levels(x), 0.0, 1.0)
        entropy = -(jax.scipy.special.xlogy(t, t) + jax.scipy.special.xlogy(1 - t, 1 - t))
        result['reconstruction_floor'] = entropy.reshape(x.shape[0], -1).sum(axis=1)
    return result


def heldout_elbo(state: GANState, config: ml_collections.ConfigDict, *, split: str = 'test',
                 posterior_samples: int = DEFAULT_POSTERIOR_SAMPLES, seed: int = 0,
                 batch_size: int | None = None) -> dict:
    """Mean ELBO, KL, reconstruction term and importance-weighted bound over `split`, nats per image."""
    module = check_vae(state)
    if posterior_samples < 1:
        raise ValueError(f'posterior_samples must be >= 1, got {posterior_samples}')
    key = jax.random.key(seed)
    per_image: dict[str, list[np.ndarray]] = {}
    for index, batch in enumerate(split_batches(config, split, batch_size=batch_size)):
        out = _bound_of_batch(state, jnp.asarray(batch['x']), _labels(module, batch),
                              jax.random.fold_in(key, index), posterior_samples)
        for name, values in jax.device_get(out).items():
            per_image.setdefault(name, []).append(values)
    values = {name: np.concatenate(v) for name, v in per_image.items()}
    result = {name: float(v.mean()) for name, v in values.items()}
    result['elbo_std_error'] = float(values['elbo'].std(ddof=1) / np.sqrt(len(values['elbo'])))
    return {**result, 'units': 'nats per image', 'split': split, 'num_images': int(len(values['elbo'])),
            'posterior_samples': posterior_samples, 'seed': seed, 'decoder': module.decoder_kind,
            'dataset': config.dataset}


@jax.jit
def _reconstruct_batch(state: GANState, x: jax.Array, labels: jax.Array | None) -> jax.Array:
    return state.generator.network.apply({'params': state.generator.ema_params}, x, labels, method='reconstruct')


def reconstructions(state: GANState, config: ml_collections.ConfigDict, *, split: str = 'test',
                    num: int = DEFAULT_NUM_RECONSTRUCTIONS) -> dict[str, np.ndarray]:
    """The first `num` images of `split` (in order) and their reconstructions, uint8 NHWC, with labels."""
    module = check_vae(state)
    images, recons, labels = [], [], []
    remaining = num
    for batch in split_batches(config, split):
        x = batch['x'][:remaining]
        label = batch.get('label', np.full(len(batch['x']), -1, np.int32))[:remaining]
        images.append(sampling.to_uint8(x))
        recons.append(sampling.to_uint8(_reconstruct_batch(state, jnp.asarray(x),
                                                           _labels(module, {'label': label}))))
        labels.append(np.asarray(label, np.int32))
        remaining -= len(x)
        if remaining <= 0:
            break
    return {'images': np.concatenate(images), 'reconstructions': np.concatenate(recons),
            'labels': np.concatenate(labels)}


def comparison_grid(images: np.ndarray, reconstructions: np.ndarray, columns: int = PNG_COLUMNS) -> np.ndarray:
    """One image: rows of `columns` originals, each directly above the row of their reconstructions."""
    columns = min(columns, len(images))
    rows = []
    for start in range(0, len(images), columns):
        rows.append(images[start:start + columns])
        rows.append(reconstructions[start:start + columns])
    # Pad the last pair of rows to full width with black images, so the grid stays aligned.
    padded = [np.concatenate([r, np.zeros((columns - len(r), *r.shape[1:]), r.dtype)]) for r in rows]
    return sampling.image_grid(np.concatenate(padded), columns)


def write_reconstructions(arrays: dict[str, np.ndarray], out: str) -> tuple[str, str]:
    """Writes the .npz to `out` and the comparison PNG beside it; returns both paths."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **arrays)
    png = os.path.splitext(out)[0] + '.png'
    sampling.save_png(comparison_grid(arrays['images'], arrays['reconstructions']), png)
    return out, png


def reconstruct_workdir(workdir: str, *, split: str = 'test', num: int = DEFAULT_NUM_RECONSTRUCTIONS,
                        out: str = 'recon.npz', posterior_samples: int = DEFAULT_POSTERIOR_SAMPLES,
                        seed: int = 0) -> dict:
    """Held-out ELBO of the run's latest checkpoint on `split`, and its reconstructions written to `out`."""
    from gans.inference.runs import load_trained_state

    state, config = load_trained_state(workdir)
    result = heldout_elbo(state, config, split=split, posterior_samples=posterior_samples, seed=seed)
    npz, png = write_reconstructions(reconstructions(state, config, split=split, num=num), out)
    return {'step': int(state.step), **result, 'reconstructions': npz, 'png': png}
