"""StarGAN: the domain code drives the generator, the losses' closed forms, the directions, and a
tiny run through the engine (5 D steps per G step) that resumes exactly and translates."""
from __future__ import annotations

import math
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_checks import real_config
from tree_checks import assert_trees_equal, trained_and_resumed
from gans import config as config_lib
from gans import losses, optim
from gans.engine.loop import train
from gans.engine.state import create_state
from gans.games.base import GENERATOR_INPUTS
from gans.games.stargan import StarGANGame
from gans.models.resnet import ResNetGenerator
from gans.models.stargan import StarDiscriminator, StarGenerator, tile_domains

CONFIG = 'stargan_fashion_footwear:tiny'
SHAPE = (8, 8, 1)
GAME = StarGANGame(domains=(5, 7, 9), domain_names=('sandal', 'sneaker', 'boot'))


def test_the_domain_code_changes_the_output_for_the_same_input():
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 1), minval=-1, maxval=1)
    g = StarGenerator(ResNetGenerator(channels=1, width=4, num_blocks=1, padding='zero'))
    to_sneaker, to_boot = GAME.one_hot(jnp.array([1, 1])), GAME.one_hot(jnp.array([2, 2]))
    variables = g.init(jax.random.key(1), x, to_sneaker)
    a, b = g.apply(variables, x, to_sneaker), g.apply(variables, x, to_boot)
    assert a.shape == x.shape
    assert float(jnp.abs(a - b).max()) > 1e-3
    # Reflection padding keeps the code's response constant, and instance norm then erases it.
    reflect = StarGenerator(ResNetGenerator(channels=1, width=4, num_blocks=1))
    variables = reflect.init(jax.random.key(1), x, to_sneaker)
    assert float(jnp.abs(reflect.apply(variables, x, to_sneaker) - reflect.apply(variables, x, to_boot)).max()) < 1e-4
    tiled = tile_domains(x, to_boot)
    np.testing.assert_array_equal(tiled[..., 1:], np.broadcast_to([0, 0, 1], (2, 16, 16, 3)))


def test_discriminator_heads_have_the_stated_shapes():
    d = StarDiscriminator(num_domains=3, num_layers=2, width=4)
    x = jnp.zeros((5, 16, 16, 1))
    out = d.apply(d.init(jax.random.key(0), x), x)
    assert out['adversarial'].shape == (5, 4, 4) and out['classes'].shape == (5, 3)
    with pytest.raises(ValueError, match='multiples of 4'):
        d.apply(d.init(jax.random.key(0), jnp.zeros((1, 18, 18, 1))), jnp.zeros((1, 18, 18, 1)))


def test_directions_are_the_ordered_pairs_with_their_inverses():
    names = set(GAME.directions)
    assert len(names) == 6 and 'sandal2boot' in names and 'boot2sandal' in names
    for name, way in GAME.directions.items():
        assert GAME.directions[way.inverse].inverse == name
        assert way.source_class != way.reference_class and not way.paired
    np.testing.assert_array_equal(GAME.domain_index(jnp.array([9, 5, 7])), [2, 0, 1])


class Passthrough(nn.Module):
    """G(x, c) = x, with one unused parameter: the reconstruction is exact."""

    @nn.compact
    def __call__(self, x, target, train=True):
        self.param('unused', nn.initializers.zeros, ())
        return x


class Blank(nn.Module):
    """D(x): zero patch logits and zero (uniform) domain logits, plus a bias that moves neither."""

    @nn.compact
    def __call__(self, x, train=True):
        bias = self.param('bias', nn.initializers.zeros, ())
        n = x.shape[0]
        return {'adversarial': jnp.zeros((n, 2, 2)) + 0 * bias, 'classes': jnp.zeros((n, 3)) + 0 * bias}


def test_losses_at_a_blank_critic_and_an_exact_reconstruction():
    """D outputs 0 everywhere: Wasserstein terms 0, classification ln 3, gradient penalty 1 (a zero
    input gradient); G passes x through: reconstruction 0."""
    x = jnp.zeros((1, *SHAPE))
    state = create_state(Passthrough(), Blank(), optim.player_optimizer(1e-3), optim.player_optimizer(1e-3),
                         jax.random.key(0), {'x': x, 'target': jnp.zeros((1, 3))}, x)
    rng = np.random.default_rng(0)
    batch = {'x': jnp.asarray(rng.uniform(-1, 1, (4, *SHAPE)), jnp.float32), 'label': jnp.array([5, 7, 9, 5])}
    batch[GENERATOR_INPUTS] = GAME.generator_inputs(batch, jax.random.key(1))
    _, d_aux = GAME.d_loss(state.discriminator.params, state, batch, jax.random.key(2))
    _, g_aux = GAME.g_loss(state.generator.params, state, batch, jax.random.key(3))
    d, g = jax.device_get(d_aux.metrics), jax.device_get(g_aux.metrics)
    assert d['d_adversarial_loss'] == 0 and g['g_adversarial_loss'] == 0
    assert d['d_classification_loss'] == pytest.approx(math.log(3), rel=1e-6)
    assert g['g_classification_loss'] == pytest.approx(math.log(3), rel=1e-6)
    assert d['gradient_penalty'] == pytest.approx(1.0)
    assert g['g_reconstruction_l1'] == 0
    assert d['d_loss'] == pytest.approx(math.log(3) + 10.0)
    assert g['g_loss'] == pytest.approx(math.log(3))
    assert isinstance(GAME.objective, losses.Objective)


def test_bad_domains_are_refused_by_name():
    with pytest.raises(ValueError, match='stargan.domains must name at least two distinct labels'):
        train(config_lib.load_config(CONFIG, ['stargan.domains=(5, 5)']), '/nonexistent/never-written')
    with pytest.raises(ValueError, match='game stargan needs a labelled image dataset'):
        train(config_lib.load_config(CONFIG, ['dataset=fashion_edges']), '/nonexistent/never-written')


@pytest.fixture(scope='module')
def footwear(data_dir):
    return real_config('stargan_fashion_footwear')


def test_tiny_stargan_trains_resumes_exactly_and_translates_each_pair(footwear, tmp_path):
    from gans import cli
    from gans.inference import translation
    from gans.inference.runs import load_trained_run

    assert_trees_equal(*trained_and_resumed(CONFIG, 2, 1, tmp_path))
    workdir, out = str(tmp_path / 'full'), str(tmp_path / 'sandal2boot.npz')
    cli.main(['gans', 'translate', f'--workdir={workdir}', '--direction=sandal2boot', f'--out={out}'])
    state, run_config, game = load_trained_run(workdir)
    with np.load(out) as written:
        assert written['inputs'].shape == (1000, 16, 16, 1)  # the test split's sandals
        assert written['reconstructions'].shape == written['outputs'].shape == (1000, 16, 16, 1)
    result = translation.translation_metrics(state, game, run_config, direction='boot2sneaker')
    assert result['num_examples'] == 1000 and result['target_classes'] == [7]
    assert 0 <= result['target_class_share'] <= 1 and result['cycle_l1'] > 0
