"""CycleGAN: its losses' closed forms, the image pool, the networks' shapes, and a tiny run
through the engine that resumes exactly."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_checks import real_config
from tree_checks import assert_trees_equal, trained_and_resumed
from gans import config as config_lib
from gans import optim
from gans.engine.loop import train
from gans.engine.state import create_state
from gans.games.base import GENERATOR_INPUTS
from gans.games.cyclegan import CycleGANGame
from gans.games.remedies.replay import ImagePool
from gans.models.patchgan import PatchGANDiscriminator, output_size
from gans.models.resnet import CycleDiscriminators, CycleGenerators, ResNetGenerator

CONFIG = 'cyclegan_fashion_sneaker2boot:tiny'
SHAPE = (8, 8, 1)


class Scale(nn.Module):
    """x -> factor * x, with one (unused) parameter so the player has something to train."""
    factor: float

    @nn.compact
    def __call__(self, x, train=True):
        self.param('unused', nn.initializers.zeros, ())
        return self.factor * x


def _g_metrics(g_factor: float, f_factor: float) -> dict:
    generators = CycleGenerators(Scale(g_factor), Scale(f_factor))
    discriminators = CycleDiscriminators(PatchGANDiscriminator(num_layers=0, width=4, norm='none'),
                                         PatchGANDiscriminator(num_layers=0, width=4, norm='none'))
    game = CycleGANGame(image_shape=SHAPE, pool=ImagePool(4))
    x = jnp.zeros((1, *SHAPE))
    state = create_state(generators, discriminators, optim.player_optimizer(1e-3), optim.player_optimizer(1e-3),
                         jax.random.key(0), {'a': x, 'b': x}, {'a': x, 'b': x})
    rng = np.random.default_rng(0)
    batch = {d: jnp.asarray(rng.uniform(-1, 1, (4, *SHAPE)), jnp.float32) for d in 'ab'}
    batch[GENERATOR_INPUTS] = game.generator_inputs(batch, None)
    _, aux = game.g_loss(state.generator.params, state, batch, jax.random.key(1))
    return jax.device_get(aux.metrics)


def test_cycle_loss_is_zero_for_generators_that_invert_each_other():
    metrics = _g_metrics(2.0, 0.5)  # F(G(a)) = a and G(F(b)) = b exactly
    assert metrics['g_cycle_l1'] == 0.0
    assert metrics['g_identity_l1'] > 0.1  # G(b) = 2b is no identity


def test_identity_loss_is_zero_for_identity_generators():
    metrics = _g_metrics(1.0, 1.0)
    assert metrics['g_identity_l1'] == 0.0 and metrics['g_cycle_l1'] == 0.0
    # Neither is zero for generators that are not: E|F(G(a)) - a| = 3 E|a| for G = F = -2.
    assert _g_metrics(-2.0, -2.0)['g_cycle_l1'] > 1.0


def test_the_pool_stores_until_full_then_swaps_at_its_rate():
    pool = ImagePool(size=8, probability=0.5)
    state = pool.init((1,))
    first = jnp.arange(1.0, 9.0)[:, None]
    out, state = pool.query(state, first, jax.random.key(0))
    # Until full: every fake passes through and is stored, in order.
    np.testing.assert_array_equal(out, first)
    np.testing.assert_array_equal(state['images'], first)
    assert int(state['count']) == 8
    swapped, total = 0, 0
    for i in range(200):
        fresh = -1.0 - (16 * i + jnp.arange(16.0))[:, None]  # distinct, never stored before
        seen = set(np.asarray(state['images'])[:, 0].tolist()) | set(np.asarray(fresh)[:, 0].tolist())
        out, state = pool.query(state, fresh, jax.random.key(i + 1))
        assert state['images'].shape == (8, 1) and int(state['count']) == 8
        out = np.asarray(out)[:, 0]
        old = out != np.asarray(fresh)[:, 0]
        # A fake swapped out came from the pool: stored before, or a fresh one stored this batch.
        assert all(v in seen for v in out)
        swapped += int(old.sum())
        total += out.size
    # 3200 Bernoulli(0.5) draws: within 4 standard deviations (0.035) of the rate.
    assert abs(swapped / total - 0.5) < 0.035


@pytest.mark.parametrize('probability, expected', [(0.0, 0.0), (1.0, 1.0)])
def test_the_pool_never_or_always_swaps(probability, expected):
    pool = ImagePool(size=4, probability=probability)
    state = pool.init((1,))
    _, state = pool.query(state, jnp.arange(4.0)[:, None], jax.random.key(0))
    fresh = 100.0 + jnp.arange(6.0)[:, None]
    out, state = pool.query(state, fresh, jax.random.key(1))
    assert float(np.mean(np.asarray(out) != np.asarray(fresh))) == expected
    assert (np.asarray(state['images']) >= 100.0).any() == bool(expected)


def test_resnet_generator_and_unconditional_patchgan_shapes():
    x = jnp.zeros((2, 32, 32, 1))
    g = ResNetGenerator(channels=3, width=8, num_blocks=2)
    variables = g.init(jax.random.key(0), x)
    y = g.apply(variables, jax.random.normal(jax.random.key(1), x.shape))
    assert y.shape == (2, 32, 32, 3) and float(jnp.abs(y).max()) < 1.0
    assert {'in', 'down0', 'down1', 'block1_conv1', 'up0', 'up1', 'out'} <= set(variables['params'])
    d = PatchGANDiscriminator(num_layers=1, width=8, norm='instance')
    logits = d.apply(d.init(jax.random.key(0), None, x), None, x)
    assert logits.shape == (2, output_size(32, 1), output_size(32, 1))
    with pytest.raises(ValueError, match='multiples of 4'):
        g.init(jax.random.key(0), jnp.zeros((1, 30, 30, 1)))


def test_a_paired_dataset_is_refused_by_name():
    with pytest.raises(ValueError, match='game cyclegan needs an unpaired dataset'):
        train(config_lib.load_config(CONFIG, ['dataset=fashion_edges']), '/nonexistent/never-written')


def test_tiny_cyclegan_trains_and_resumes_exactly(tmp_path, data_dir):
    """Through the loop: the pools fill in the game state, both generators and both discriminators
    move, and a run stopped at step 2 and resumed ends where the uninterrupted one does."""
    full, resumed = trained_and_resumed(CONFIG, 4, 2, tmp_path)
    batch = config_lib.load_config(CONFIG).batch_size
    assert int(full.game_state['pool_a']['count']) == min(4, 4 * batch)  # tiny pool_size 4: full
    assert set(full.generator.params) == {'a2b', 'b2a'} and set(full.discriminator.params) == {'d_a', 'd_b'}
    assert_trees_equal(full, resumed)


@pytest.fixture(scope='module')
def sneaker2boot(data_dir):
    return real_config('cyclegan_fashion_sneaker2boot')


def _shape(config):
    from gans import data
    return data.config_spec(config).shape


def _scaling_state(config, g_factor, f_factor):
    x = jnp.zeros((1, *_shape(config)))
    return create_state(CycleGenerators(Scale(g_factor), Scale(f_factor)),
                        CycleDiscriminators(PatchGANDiscriminator(num_layers=0, width=4, norm='none'),
                                            PatchGANDiscriminator(num_layers=0, width=4, norm='none')),
                        optim.player_optimizer(1e-3), optim.player_optimizer(1e-3), jax.random.key(0),
                        {'a': x, 'b': x}, {'a': x, 'b': x})


def test_identity_generators_score_as_the_untranslated_inputs(sneaker2boot):
    """G = F = identity: each direction's outputs are its inputs, so the translation scores equal
    the inputs' (FD to the other domain, share in its class), and the cycle is exact."""
    from gans.inference import translation
    config = sneaker2boot
    game = CycleGANGame(image_shape=_shape(config))
    report = translation.translation_report(_scaling_state(config, 1.0, 1.0), game, config)
    assert set(report) == {'a2b', 'b2a'}
    for name, classes in (('a2b', [9]), ('b2a', [7])):  # ankle boot, sneaker
        result = report[name]
        assert result['num_examples'] == 1000 and result['target_classes'] == classes
        assert result['fd'] == pytest.approx(result['fd_inputs'], rel=1e-4) and result['fd'] > 10
        assert result['target_class_share'] == result['target_class_share_inputs'] < 0.1
        assert result['target_class_accuracy'] > 0.9
        assert result['cycle_l1'] == 0


def test_cycle_l1_goes_through_the_inverse_direction(sneaker2boot):
    """G = x/2, F = x/2: F(G(a)) = a/4, so the cycle L1 is 3/4 E|a| over the test split's a."""
    from gans.inference import translation
    from gans.inference.runs import split_batches
    config = sneaker2boot
    game = CycleGANGame(image_shape=_shape(config))
    result = translation.translation_metrics(_scaling_state(config, 0.5, 0.5), game, config, direction='a2b')
    a = np.concatenate([batch['a'] for batch in split_batches(config, 'test')])
    assert result['direction'] == 'a2b'
    assert result['cycle_l1'] == pytest.approx(0.75 * float(np.abs(a).mean()), rel=1e-5)


def test_translate_and_evaluate_each_direction_of_a_run(sneaker2boot, tmp_path):
    """`gans translate --direction b2a` writes F(b) (and G(F(b))) as the network computes them;
    `gans evaluate` scores both directions and logs them under their names."""
    import json

    from gans import cli
    from gans.inference import sampling
    from gans.inference.runs import load_trained_run, split_batches
    workdir, out = str(tmp_path / 'run'), str(tmp_path / 'b2a.npz')
    cli.main(['gans', 'train', f'--config={CONFIG}', f'--workdir={workdir}', '--config.num_steps=2'])
    cli.main(['gans', 'translate', f'--workdir={workdir}', '--direction=b2a', '--num=5', f'--out={out}'])
    state, config, _ = load_trained_run(workdir)
    b = next(split_batches(config, 'test'))['b'][:5]
    f_of_b = state.generate({'b': b})['a']
    expected = {'inputs': b, 'outputs': f_of_b, 'reconstructions': state.generate({'a': f_of_b})['b']}
    with np.load(out) as written:
        assert set(written.files) == set(expected)
        for name, images in expected.items():  # jitted or not, a rounding may flip by one level
            np.testing.assert_allclose(written[name].astype(int), sampling.to_uint8(images).astype(int), atol=1,
                                       err_msg=name)
    with pytest.raises(ValueError, match="no direction 'forward'; its directions: a2b, b2a"):
        cli.main(['gans', 'translate', f'--workdir={workdir}', '--direction=forward'])
    cli.main(['gans', 'evaluate', f'--workdir={workdir}'])
    with open(f'{workdir}/metrics.jsonl') as f:
        logged = json.loads(f.read().splitlines()[-1])
    assert {'eval/a2b/fd', 'eval/b2a/fd', 'eval/a2b/cycle_l1', 'eval/b2a/target_class_share'} <= set(logged)


def test_cyclegan_trains_on_a_prepared_tfds_cycle_gan_dataset(tmp_path):
    """A user's prepared `cycle_gan/horse2zebra` (mocked: random colour images of random sizes)
    trains through the shipped config and translates both ways."""
    import tensorflow_datasets as tfds

    from gans import cli
    from data_checks import write_tfds_metadata
    data_dir, workdir = str(tmp_path / 'tfds'), str(tmp_path / 'run')
    name = 'cycle_gan/horse2zebra'
    write_tfds_metadata(name, data_dir, {'trainA': 16, 'trainB': 16, 'testA': 16, 'testB': 16})
    with tfds.testing.mock_data(num_examples=16, data_dir=data_dir):
        cli.main(['gans', 'train', f'--config={CONFIG}', f'--workdir={workdir}', '--config.num_steps=2',
                  f'--config.dataset={name}', f'--config.data_dir={data_dir}', '--config.image_size=16'])
        for direction in ('a2b', 'b2a'):
            out = str(tmp_path / f'{direction}.npz')
            cli.main(['gans', 'translate', f'--workdir={workdir}', f'--direction={direction}', f'--out={out}'])
            with np.load(out) as written:
                assert written['outputs'].shape == written['inputs'].shape == (16, 16, 16, 3)
                assert written['reconstructions'].shape == (16, 16, 16, 3)
