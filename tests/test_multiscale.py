"""pix2pixHD's pieces: multi-scale discriminators and feature matching, alone and in the games."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import config as config_lib
from gans import losses
from gans.engine.experiment import build_experiment
from gans.games import multiscale as ms_losses
from gans.models.multiscale import MultiScaleDiscriminator, downsample, multi_scale, scale_sizes
from gans.models.patchgan import PatchGANDiscriminator


class Probe(nn.Module):
    """A 'discriminator' that returns what it was given: image, and source when there is one."""

    @nn.compact
    def __call__(self, source, image, train=True, features=False):
        self.param('unused', nn.initializers.zeros, ())
        return image if source is None else (source, image)


def test_each_scale_sees_the_input_halved_again():
    x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 1))
    net = MultiScaleDiscriminator(Probe(), num_scales=3)
    variables = net.init(jax.random.key(1), None, x)
    assert set(variables['params']) == {'scale0', 'scale1', 'scale2'}  # one set of parameters per scale
    seen = net.apply(variables, None, x)
    assert [s.shape[1] for s in seen] == list(scale_sizes(32, 3)) == [32, 16, 8]
    np.testing.assert_allclose(seen[0], x)
    np.testing.assert_allclose(seen[2], downsample(downsample(x)), rtol=1e-6)
    pairs = net.apply(variables, x, x)  # a conditional D's source is downsampled with the image
    assert all(s.shape == i.shape for s, i in pairs)
    assert scale_sizes(33, 3) == (33, 17, 9)


def test_downsample_is_a_three_by_three_mean_without_the_padding():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    out = np.asarray(downsample(jnp.asarray(x)))[0, ..., 0]
    grid = x[0, ..., 0]
    # Output (i, j) averages rows 2i-1..2i+1, columns 2j-1..2j+1 that lie inside the image.
    expected = [[grid[max(2 * i - 1, 0):2 * i + 2, max(2 * j - 1, 0):2 * j + 2].mean() for j in range(2)]
                for i in range(2)]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_patchgan_scales_have_the_patchgan_grids():
    x = jnp.zeros((1, 32, 32, 1))
    net = multi_scale(PatchGANDiscriminator(num_layers=1, width=4, norm='none'), 2)
    logits = net.apply(net.init(jax.random.key(0), None, x), None, x)
    assert [l.shape for l in logits] == [(1, 14, 14), (1, 6, 6)]  # output_size(32, 1), output_size(16, 1)
    single = PatchGANDiscriminator(num_layers=1, width=4, norm='none')
    assert multi_scale(single, 1) is single
    with pytest.raises(ValueError, match='num_scales must be >= 1'):
        multi_scale(single, 0)


def test_adversarial_losses_sum_over_the_scales():
    objective = losses.get_objective('lsgan')
    keys = jax.random.split(jax.random.key(0), 4)
    real = [jax.random.normal(keys[0], (2, 6, 6)), jax.random.normal(keys[1], (2, 2, 2))]
    fake = [jax.random.normal(keys[2], (2, 6, 6)), jax.random.normal(keys[3], (2, 2, 2))]
    expected = objective.d_loss(real[0], fake[0]) + objective.d_loss(real[1], fake[1])
    np.testing.assert_allclose(ms_losses.d_loss(objective, real, fake), expected, rtol=1e-6)
    np.testing.assert_allclose(ms_losses.g_loss(objective, fake),
                               objective.g_loss(fake[0]) + objective.g_loss(fake[1]), rtol=1e-6)
    # One discriminator's plain logits are one scale.
    np.testing.assert_allclose(ms_losses.d_loss(objective, real[0], fake[0]), objective.d_loss(real[0], fake[0]))


def test_feature_matching_is_zero_for_identical_features_and_weighs_layers_four_over_l():
    keys = jax.random.split(jax.random.key(0), 3)
    real = [(jax.random.normal(keys[0], (2, 8, 8, 4)), jax.random.normal(keys[1], (2, 4, 4, 8)))]
    assert float(ms_losses.feature_matching_loss(real, real)) == 0.0
    # Every fake activation off by exactly 1: each of L = 2 layers adds 4 / L x 1, over K = 1 scale.
    shifted = [tuple(f + 1.0 for f in real[0])]
    np.testing.assert_allclose(ms_losses.feature_matching_loss(real, shifted), 4.0, rtol=1e-6)
    # Two scales, each off by 1: the mean over scales stays 4.
    np.testing.assert_allclose(ms_losses.feature_matching_loss(real * 2, shifted * 2), 4.0, rtol=1e-6)
    # Unpaired, batch means: the batch reversed matches exactly, example by example it does not.
    flipped = [tuple(f[::-1] for f in real[0])]
    assert float(ms_losses.feature_matching_loss(real, flipped, paired=False)) == pytest.approx(0.0, abs=1e-6)
    assert float(ms_losses.feature_matching_loss(real, flipped)) > 0.1


def test_feature_matching_gradient_reaches_only_the_fake():
    real = [(jnp.ones((1, 2, 2, 1)),)]

    def loss(r, f):
        return ms_losses.feature_matching_loss([(r,)], [(f,)])

    g_real, g_fake = jax.grad(loss, argnums=(0, 1))(real[0][0], jnp.zeros((1, 2, 2, 1)))
    assert float(jnp.abs(g_real).sum()) == 0.0 and float(jnp.abs(g_fake).sum()) > 0


@pytest.mark.parametrize('name, game', [('pix2pix_fashion_edges:tiny', 'pix2pix'),
                                        ('cyclegan_fashion_sneaker2boot:tiny', 'cyclegan')])
def test_games_take_several_discriminators_and_feature_matching(name, game, data_dir):
    from data_checks import real_config
    from gans import data
    from gans.engine import sharding
    from gans.engine.loop import make_data_iterator
    real_config(name)
    config = config_lib.load_config(name, ['discriminator.num_scales=2', f'{game}.feature_matching_weight=10.0'])
    spec = data.config_spec(config)
    mesh = sharding.make_mesh(1)
    experiment = build_experiment(config, spec, mesh)
    params = experiment.state.discriminator.params
    scales = params if game == 'pix2pix' else params['d_a']
    assert set(scales) == {'scale0', 'scale1'}
    batch = sharding.global_batch(next(make_data_iterator(config)), mesh)
    state, metrics = experiment.train_step(experiment.state, batch, jax.random.key(0))
    metrics = jax.device_get(metrics)
    assert metrics['g_feature_matching'] > 0 and np.isfinite(metrics['g_loss'])
    # G's loss holds lambda_feat x the matching term.
    others = metrics['g_loss'] - 10.0 * metrics['g_feature_matching']
    assert others < metrics['g_loss']
    assert int(state.step) == 1
