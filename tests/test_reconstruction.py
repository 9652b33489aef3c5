"""Held-out ELBO and reconstructions, and the VAE family through the command line:
`gans train` + `gans sample` + `gans reconstruct` on tiny runs."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image
from scipy import stats

from gans import cli
from gans.inference import reconstruction, sampling
from gans.inference.runs import load_trained_state
from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.engine.state import create_state

VAE = 'experiments/configs/vae_digits.py'


@pytest.fixture(scope='module')
def vae_run(tmp_path_factory, data_dir):
    workdir = str(tmp_path_factory.mktemp('vae') / 'run')
    cli.main(['gans', 'train', f'--config={VAE}:tiny', f'--workdir={workdir}', '--config.num_steps=6'])
    return workdir


@pytest.fixture(scope='module')
def vae_state(vae_run):
    return load_trained_state(vae_run)


def test_train_logs_the_bound_terms(vae_run):
    lines = [json.loads(line) for line in open(os.path.join(vae_run, 'metrics.jsonl'))]
    assert [line['step'] for line in lines] == list(range(1, 7))
    for line in lines:
        assert line['beta'] == 1.0 and line['kl'] >= 0 and line['reconstruction'] > 0
        np.testing.assert_allclose(line['elbo'], -line['reconstruction'] - line['kl'], rtol=1e-5)
        np.testing.assert_allclose(line['g_loss'], -line['elbo'], rtol=1e-5)  # beta = 1: the negative ELBO


def test_sample_draws_from_the_prior(vae_run, vae_state, tmp_path):
    out = str(tmp_path / 'samples.npz')
    cli.main(['gans', 'sample', f'--workdir={vae_run}', '--num=12', '--seed=3', f'--out={out}'])
    with np.load(out) as f:
        assert sorted(f.keys()) == ['images']
        images = f['images']
    # The same images by hand: z ~ N(0, I) as sample_batches draws it, decoded to mean images.
    state, _ = vae_state
    z = jax.random.normal(jax.random.split(jax.random.fold_in(jax.random.key(3), 0))[0], (12, 4))
    logits = state.generator.network.apply({'params': state.generator.ema_params}, z, method='decode')
    np.testing.assert_array_equal(images, sampling.to_uint8(2 * jax.nn.sigmoid(logits) - 1))


def test_reconstruct_prints_the_heldout_elbo_and_writes_npz_and_png(vae_run, vae_state, tmp_path, capsys):
    out = str(tmp_path / 'recon.npz')
    cli.main(['gans', 'reconstruct', f'--workdir={vae_run}', '--num=20', f'--out={out}'])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['split'] == 'test' and result['num_images'] == 300 and result['step'] == 6
    assert result['posterior_samples'] == reconstruction.DEFAULT_POSTERIOR_SAMPLES
    np.testing.assert_allclose(result['elbo'], -result['reconstruction'] - result['kl'], rtol=1e-5)
    assert result['elbo'] <= result['importance_weighted_bound'] + 1e-3
    assert result['reconstruction'] > result['reconstruction_floor']
    with np.load(out) as f:
        assert sorted(f.keys()) == ['images', 'labels', 'reconstructions']
        assert f['images'].shape == f['reconstructions'].shape == (20, 16, 16, 1)
        assert f['images'].dtype == f['reconstructions'].dtype == np.uint8
        # The first 20 test images in order, with their labels.
        x, labels = _test_split(vae_state[1])
        np.testing.assert_array_equal(f['images'], sampling.to_uint8(x[:20]))
        np.testing.assert_array_equal(f['labels'], labels[:20])
    # 16 columns: originals, reconstructions, 4 more originals, their reconstructions (1-px gaps).
    png = np.asarray(Image.open(result['png']))
    assert png.shape == (4 * 17 + 1, 16 * 17 + 1)
    # --split picks another split.
    cli.main(['gans', 'reconstruct', f'--workdir={vae_run}', '--num=2', f'--out={out}', '--split=train'])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['split'] == 'train' and result['num_images'] == 1497


def _test_split(config):
    batch = next(iter(reconstruction.split_batches(config, 'test')))
    return batch['x'], batch['label']


def test_heldout_terms_match_an_independent_computation(vae_state):
    state, config = vae_state
    result = reconstruction.heldout_elbo(state, config, posterior_samples=4)
    x, _ = _test_split(config)
    variables, vae = {'params': state.generator.ema_params}, state.generator.network
    decode = jax.jit(lambda z: vae.apply(variables, z, method='decode'))
    mean, log_var = (np.asarray(a, np.float64) for a in
                     jax.jit(lambda x: vae.apply(variables, x, method='encode'))(jnp.asarray(x)))
    kl = 0.5 * (np.exp(log_var) + mean ** 2 - 1 - log_var).sum(1)
    np.testing.assert_allclose(result['kl'], kl.mean(), rtol=1e-4)
    # -E_q log p(x|z), by numpy with scipy's Bernoulli entropy for the floor and 16 fresh samples.
    rng = np.random.default_rng(0)
    t = (np.asarray(x, np.float64) + 1) / 2
    nll = []
    for _ in range(16):
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
        logits = np.asarray(decode(jnp.asarray(z, jnp.float32)), np.float64)
        nll.append((np.logaddexp(0, logits) - t * logits).reshape(len(x), -1).sum(1))
    np.testing.assert_allclose(result['reconstruction'], np.mean(nll), rtol=2e-3)
    floor = stats.bernoulli.entropy(np.clip(t, 0, 1)).reshape(len(x), -1).sum(1).mean()
    np.testing.assert_allclose(result['reconstruction_floor'], floor, rtol=1e-4)


def test_comparison_grid_puts_originals_above_reconstructions():
    white, black = np.full((20, 2, 2, 1), 255, np.uint8), np.full((20, 2, 2, 1), 7, np.uint8)
    grid = reconstruction.comparison_grid(white, black, columns=16)
    assert grid.shape == (4 * 3 + 1, 16 * 3 + 1, 1)
    cell = lambda row, col: grid[1 + 3 * row:3 + 3 * row, 1 + 3 * col:3 + 3 * col]
    assert (cell(0, 15) == 255).all() and (cell(1, 15) == 7).all()
    assert (cell(2, 3) == 255).all() and (cell(3, 3) == 7).all()
    assert (cell(2, 4) == 0).all() and (cell(3, 4) == 0).all()  # padding after the last 4


def test_reconstruction_refuses_a_gan_run():
    state = jax.eval_shape(lambda: create_state(
        DCGANGenerator(image_size=16, width=4), DCGANDiscriminator(image_size=16, width=4), optax.adam(1e-3),
        optax.adam(1e-3), jax.random.key(0), jnp.zeros((1, 8)), jnp.zeros((1, 16, 16, 1))))
    with pytest.raises(ValueError, match='needs a run of a VAE game'):
        reconstruction.heldout_elbo(state, None)
