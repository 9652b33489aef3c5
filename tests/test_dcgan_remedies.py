"""DCGAN discriminator hooks for the mode-collapse remedies (packing, batch features), its
batch-norm-free variant, and the per-objective digits configs."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import cli
from gans import config as config_lib
from gans import data
from gans.games import build_game
from gans.models.dcgan import DCGANDiscriminator, pack_channels

DCGAN = 'experiments/configs/dcgan_digits.py'
DIGITS16 = data.dataset_spec('digits', image_size=16)
OBJECTIVES = ('minimax', 'lsgan', 'wgan', 'wgan_gp', 'hinge', 'began')


def _images(n=8, seed=0, size=16, channels=1):
    return jax.random.uniform(jax.random.key(seed), (n, size, size, channels), minval=-1.0, maxval=1.0)


def _init(disc, x):
    return disc.init(jax.random.key(1), x, train=False)


def _apply(disc, variables, x):
    return jax.jit(lambda v, x: disc.apply(v, x, train=False))(variables, x)


def test_default_discriminator_keeps_its_parameter_tree():
    # The plain DCGAN's parameters (checkpoints rely on these names and shapes).
    x = _images()
    variables = _init(DCGANDiscriminator(image_size=16, width=8), x)
    shapes = jax.tree.map(lambda a: a.shape, variables)
    assert shapes == {
        'params': {'down0': {'kernel': (4, 4, 1, 8), 'bias': (8,)},
                   'down1': {'kernel': (4, 4, 8, 16)},
                   'down1_bn': {'scale': (16,), 'bias': (16,)},
                   'to_logit': {'kernel': (4, 4, 16, 1), 'bias': (1,)}},
        'batch_stats': {'down1_bn': {'mean': (16,), 'var': (16,)}},
    }
    explicit = DCGANDiscriminator(image_size=16, width=8, pack=1, batch_features='none', batch_norm=True)
    np.testing.assert_array_equal(_apply(explicit, variables, x),
                                  _apply(DCGANDiscriminator(image_size=16, width=8), variables, x))


def test_packed_discriminator_judges_channel_concatenated_images():
    x, m = _images(n=8), 2
    packed = DCGANDiscriminator(image_size=16, width=8, pack=m)
    variables = _init(packed, x)
    assert variables['params']['down0']['kernel'].shape == (4, 4, m, 8)  # first conv takes m * channels
    logits = _apply(packed, variables, x)
    assert logits.shape == (4,)
    # Pack i holds images 2i and 2i + 1 along channels: the plain D with 2 channels on that input.
    wide = DCGANDiscriminator(image_size=16, channels=m, width=8)
    stacked = jnp.concatenate([x[0::2], x[1::2]], axis=-1)
    np.testing.assert_allclose(_apply(wide, variables, stacked), logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pack_channels(x, m), stacked)
    with pytest.raises(ValueError, match='does not split into packs of 3'):
        packed.clone(pack=3).init(jax.random.key(0), _images(n=8), train=False)


@pytest.mark.parametrize('features', ['none', 'stddev', 'minibatch'])
def test_batch_features_let_the_discriminator_see_the_batch(features):
    # With running batch-norm statistics the plain D judges each image alone; the batch
    # features make one image's logit depend on the others.
    disc = DCGANDiscriminator(image_size=16, width=8, batch_features=features, minibatch_kernels=4,
                              minibatch_kernel_dim=3)
    x = _images()
    variables = _init(disc, x)
    changed = x.at[5].set(_images(n=1, seed=9)[0])
    before, after = _apply(disc, variables, x), _apply(disc, variables, changed)
    others = np.delete(np.arange(8), 5)
    moved = float(jnp.abs(before[others] - after[others]).max())
    if features == 'none':
        assert moved == 0.0
        assert 'kernel' in variables['params']['to_logit'] and variables['params']['to_logit']['kernel'].ndim == 4
    else:
        assert moved > 0.0
        # The output layer is a Dense on the flattened 4x4x16 map plus the extra features.
        extra = {'stddev': 1, 'minibatch': 4}[features]
        assert variables['params']['to_logit']['kernel'].shape == (4 * 4 * 16 + extra, 1)


def test_stddev_feature_is_the_batch_spread_of_the_trunk():
    disc = DCGANDiscriminator(image_size=16, width=8, batch_features='stddev')
    x = _images()
    variables = _init(disc, x)
    _, trunk = disc.apply(variables, x, train=False, return_features=True)
    expected = jnp.sqrt(jnp.var(trunk, axis=0) + 1e-8).mean()
    logits = disc.apply(variables, x, train=False)
    kernel, bias = variables['params']['to_logit']['kernel'], variables['params']['to_logit']['bias']
    np.testing.assert_allclose(logits, trunk @ kernel[:-1, 0] + expected * kernel[-1, 0] + bias[0], rtol=1e-5,
                               atol=1e-6)


def test_discriminator_without_batch_norm_judges_each_image_alone_in_training():
    disc = DCGANDiscriminator(image_size=16, width=8, batch_norm=False)
    x = _images()
    variables = disc.init(jax.random.key(1), x)
    assert 'batch_stats' not in variables and 'down1_bn' not in variables['params']
    assert variables['params']['down1']['bias'].shape == (16,)  # no batch norm to absorb the bias
    changed = x.at[0].set(-x[0])
    before, after = disc.apply(variables, x), disc.apply(variables, changed)
    np.testing.assert_array_equal(before[1:], after[1:])
    with_bn = DCGANDiscriminator(image_size=16, width=8)
    bn_vars = with_bn.init(jax.random.key(1), x)
    moved, _ = with_bn.apply(bn_vars, changed, mutable=['batch_stats'])
    assert float(jnp.abs(moved[1:] - with_bn.apply(bn_vars, x, mutable=['batch_stats'])[0][1:]).max()) > 0


def test_config_switches_reach_the_dcgan_discriminator():
    disc = build_game(config_lib.load_config(f'{DCGAN}:tiny', ['discriminator.pack=2',
                                                               'discriminator.batch_features=minibatch',
                                                               'discriminator.minibatch_kernels=4']),
                      DIGITS16).discriminator
    assert (type(disc), disc.pack, disc.batch_features, disc.minibatch_kernels) == (DCGANDiscriminator, 2, 'minibatch', 4)
    plain = build_game(config_lib.load_config(f'{DCGAN}:tiny'), DIGITS16).discriminator
    assert (plain.pack, plain.batch_features, plain.batch_norm) == (1, 'none', True)
    gp = build_game(config_lib.load_config('experiments/configs/wgan_gp_digits.py:tiny'), DIGITS16)
    assert gp.discriminator.batch_norm is False


@pytest.mark.parametrize('name', OBJECTIVES)
def test_objective_configs_load_with_their_own_settings(name):
    config = config_lib.load_config(f'experiments/configs/{name}_digits.py')
    assert (config.dataset, config.image_size) == ('digits', 32)
    if name == 'began':
        assert config.game == 'began'
    else:
        assert config.gan.loss == name
    if name in ('wgan', 'wgan_gp'):
        assert config.optim.d_steps == 5 and config.optim.b1 == 0.0
    tiny = config_lib.load_config(f'experiments/configs/{name}_digits.py:tiny')
    assert tiny.num_steps <= 4 and tiny.image_size == 16


@pytest.mark.parametrize('override', ['discriminator.pack=2', 'discriminator.batch_features=stddev'])
def test_tiny_dcgan_trains_with_the_remedy(tmp_path, data_dir, override):
    workdir = str(tmp_path / 'run')
    cli.main(['gans', 'train', f'--config={DCGAN}:tiny', f'--workdir={workdir}', f'--config.{override}',
              '--config.num_devices=1'])
    lines = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
    assert lines[-1]['step'] == 4
    assert all(np.isfinite(line['d_loss']) for line in lines if 'd_loss' in line)
