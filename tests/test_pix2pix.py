"""pix2pix through the game contract: its losses, and train -> translate -> evaluate on fashion_edges."""
from __future__ import annotations

import dataclasses
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import cli, losses, optim
from gans.data import DatasetSpec
from gans.engine.state import create_state
from gans.games import pix2pix
from gans.games.base import GENERATOR_INPUTS, TranslationGame
from gans.inference import translation
from gans.models.patchgan import PatchGANDiscriminator
from gans.models.unet import UNetGenerator

CONFIG = 'experiments/configs/pix2pix_fashion_edges.py'
SPEC = DatasetSpec('pairs', 'paired', (16, 16, 1), None, {'train': 4},
                   {'source': (16, 16, 1), 'target': (16, 16, 1)})


def _state_and_batch(game):
    generator = UNetGenerator(channels=1, width=4)
    discriminator = PatchGANDiscriminator(num_layers=1, width=4)
    state = create_state(generator, discriminator, optim.player_optimizer(1e-3), optim.player_optimizer(1e-3),
                         jax.random.key(0), *game.example_inputs(SPEC), g_rng_streams=pix2pix.RNG_STREAMS)
    rng = np.random.default_rng(0)
    source = np.tanh(rng.normal(size=(4, 16, 16, 1))).astype(np.float32)
    batch = {'source': source, 'target': np.tanh(rng.normal(size=(4, 16, 16, 1))).astype(np.float32)}
    return state, {**batch, GENERATOR_INPUTS: batch['source']}


def _g_grad(game, state, batch, key):
    return jax.grad(lambda p: game.g_loss(p, state, batch, key)[0])(state.generator.params)


def _adversarial_and_l1_grads(state, batch, key):
    """Gradients of the two terms of G's loss, written out here from the networks themselves."""
    objective = losses.get_objective('nonsaturating')

    def fake(params):
        return state.generator.apply(batch['source'], params=params, train=True, key=key)[0]

    def adversarial(params):
        d = state.discriminator
        logits = d.apply({'source': batch['source'], 'image': fake(params)}, train=True)[0]
        return objective.g_loss(logits)

    def l1(params):
        return jnp.mean(jnp.abs(fake(params) - batch['target']))

    params = state.generator.params
    return jax.grad(adversarial)(params), jax.grad(l1)(params)


def _assert_trees_close(a, b, **tolerance):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, **tolerance)


def test_l1_weight_zero_gives_the_pure_cgan_gradient_and_gan_weight_zero_the_l1_one():
    key = jax.random.key(3)
    state, batch = _state_and_batch(pix2pix.Pix2PixGame())
    adversarial, l1 = _adversarial_and_l1_grads(state, batch, key)
    _assert_trees_close(_g_grad(pix2pix.Pix2PixGame(l1_weight=0.0), state, batch, key), adversarial,
                        rtol=1e-5, atol=1e-7)
    _assert_trees_close(_g_grad(pix2pix.Pix2PixGame(gan_weight=0.0, l1_weight=1.0), state, batch, key), l1,
                        rtol=1e-5, atol=1e-7)
    # The paper's weights: one gradient of the adversarial term plus 100 of the L1 term.
    both = jax.tree.map(lambda a, b: a + 100.0 * b, adversarial, l1)
    _assert_trees_close(_g_grad(pix2pix.Pix2PixGame(), state, batch, key), both, rtol=1e-4, atol=1e-6)


def test_d_loss_is_half_the_objective_on_real_and_generated_pairs():
    game = pix2pix.Pix2PixGame()
    state, batch = _state_and_batch(game)
    key = jax.random.key(5)
    loss, aux = game.d_loss(state.discriminator.params, state, batch, key)
    fake = state.generator.apply(batch['source'], train=True, key=key)[0]
    d = state.discriminator
    real_logits, model_state = d.apply({'source': batch['source'], 'image': batch['target']}, train=True)
    fake_logits, model_state = d.apply({'source': batch['source'], 'image': fake}, model_state=model_state, train=True)
    expected = losses.get_objective('nonsaturating').d_loss(real_logits, fake_logits)
    np.testing.assert_allclose(loss, 0.5 * expected, rtol=1e-6)
    np.testing.assert_allclose(aux.metrics['d_loss'], expected, rtol=1e-6)
    _assert_trees_close(aux.model_state, model_state, rtol=1e-6)


def test_pix2pix_needs_a_paired_dataset(data_dir):
    with pytest.raises(ValueError, match="game pix2pix needs a paired dataset .* 'digits' is a dataset of kind 'image'"):
        cli.main(['gans', 'train', f'--config={CONFIG}:tiny', '--workdir=/tmp/unused', '--config.dataset=digits'])


class _Identity(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        return x + 0.0 * self.param('unused', nn.initializers.zeros, ())


@dataclasses.dataclass(frozen=True)
class _Oracle(TranslationGame):
    """A translation game whose generator is handed the target itself (a test stand-in)."""
    source_key = 'target'


def test_translation_metrics_of_a_perfect_translator(real_fashion_edges):
    config = real_fashion_edges
    game = _Oracle()
    spec = DatasetSpec('fashion_edges', 'paired', (32, 32, 1), 10, {}, {'source': (32, 32, 1), 'target': (32, 32, 1)})
    state = create_state(_Identity(), _Identity(), optim.player_optimizer(1e-3), optim.player_optimizer(1e-3),
                         jax.random.key(0), *[x['image'] if isinstance(x, dict) else x
                                              for x in game.example_inputs(spec)])
    result = translation.translation_metrics(state, game, config, split='test')
    assert result['num_examples'] == 3000 and result['feature_network'] == 'fashion'
    assert result['l1'] == 0 and result['ssim'] == pytest.approx(1.0) and result['psnr_identical_images'] == 3000
    assert result['fd'] == pytest.approx(0.0, abs=1e-3)
    assert result['class_preservation'] == result['target_class_accuracy'] > 0.9


@pytest.fixture(scope='module')
def real_fashion_edges(data_dir):
    from data_checks import real_config
    return real_config(CONFIG)


@pytest.fixture(scope='module')
def tiny_run(real_fashion_edges, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('pix2pix') / 'run')
    cli.main(['gans', 'train', f'--config={CONFIG}:tiny', f'--workdir={workdir}', '--config.num_devices=2'])
    return workdir


def test_train_writes_input_output_target_grids(tiny_run):
    from PIL import Image
    grid = np.asarray(Image.open(os.path.join(tiny_run, 'samples', '0000004.png')))
    # grid_size 4 of the tiny variant: 4 test examples, rows of sources, translations and targets.
    assert grid.shape[:2] == (3 * 17 + 1, 4 * 17 + 1)
    lines = [json.loads(line) for line in open(os.path.join(tiny_run, 'metrics.jsonl'))]
    assert {'d_loss', 'g_loss', 'g_l1', 'g_adversarial_loss'} <= set(lines[-1])


def test_translate_a_split_and_own_inputs(tiny_run, tmp_path):
    out = str(tmp_path / 't.npz')
    cli.main(['gans', 'translate', f'--workdir={tiny_run}', '--split=test', '--num=12', f'--out={out}'])
    with np.load(out) as f:
        arrays = dict(f)
    assert sorted(arrays) == ['inputs', 'labels', 'outputs', 'targets']
    assert all(a.dtype == np.uint8 and a.shape == (12, 16, 16, 1) for k, a in arrays.items() if k != 'labels')
    assert set(arrays['labels']) <= {5, 7, 9}
    assert os.path.isfile(str(tmp_path / 't.png'))
    # The same seed translates the same way, test-time dropout included.
    again = str(tmp_path / 'again.npz')
    cli.main(['gans', 'translate', f'--workdir={tiny_run}', '--split=test', '--num=12', f'--out={again}'])
    np.testing.assert_array_equal(np.load(again)['outputs'], arrays['outputs'])
    # A user's own inputs: the split's inputs again give the split's outputs.
    own, mine = str(tmp_path / 'own.npz'), str(tmp_path / 'mine.npz')
    np.savez(own, images=arrays['inputs'])
    cli.main(['gans', 'translate', f'--workdir={tiny_run}', f'--input={own}', f'--out={mine}'])
    with np.load(mine) as f:
        assert sorted(f) == ['inputs', 'outputs']
        np.testing.assert_array_equal(f['inputs'], arrays['inputs'])
        assert f['outputs'].shape == arrays['outputs'].shape


def test_translate_refuses_inputs_of_the_wrong_kind(tiny_run, tmp_path):
    bad = str(tmp_path / 'bad.npz')
    np.savez(bad, images=np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match=r'must be uint8 \[N, 16, 16, 1\]'):
        cli.main(['gans', 'translate', f'--workdir={tiny_run}', f'--input={bad}', f'--out={tmp_path}/x.npz'])
    text = str(tmp_path / 'text.npz')
    open(text, 'w').write('not an npz')
    with pytest.raises(ValueError, match='not a readable .npz'):
        cli.main(['gans', 'translate', f'--workdir={tiny_run}', f'--input={text}', f'--out={tmp_path}/x.npz'])


def test_evaluate_reports_translation_metrics_and_sample_refuses(tiny_run, capsys, tmp_path):
    cli.main(['gans', 'evaluate', f'--workdir={tiny_run}'])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['split'] == 'test' and result['num_examples'] == 3000
    for name in ('l1', 'psnr', 'ssim', 'fd', 'class_preservation'):
        assert np.isfinite(result[name]), name
    assert 0 <= result['class_preservation'] <= 1 and 0 < result['ssim'] < 1
    with pytest.raises(ValueError, match='translates examples rather than sampling a prior'):
        cli.main(['gans', 'sample', f'--workdir={tiny_run}', f'--out={tmp_path}/s.npz'])
