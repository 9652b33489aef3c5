"""bfloat16 compute: float32 parameters and optimizer state, bf16 forwards close to float32 ones,
and a short bf16 DCGAN run on digits that learns to draw digits a classifier recognises."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gans import config as config_lib
from gans import data, models
from gans.engine import sharding
from gans.engine.experiment import build_experiment, train_key
from gans.inference import sampling
from gans.metrics import digits_classifier
from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models.mlp import MLPDiscriminator, MLPGenerator

DCGAN = 'experiments/configs/dcgan_digits.py'


def _dtypes(tree):
    return {jnp.dtype(x.dtype).name for x in jax.tree.leaves(tree)}


def _relative_rms(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b ** 2)))


@pytest.mark.parametrize('make', [
    lambda dtype: (DCGANGenerator(image_size=16, channels=1, width=8, dtype=dtype),
                   DCGANDiscriminator(image_size=16, channels=1, width=8, dtype=dtype), (16, 16, 1)),
    lambda dtype: (MLPGenerator(output_shape=(2,), hidden=(32, 32), tanh_output=False, dtype=dtype),
                   MLPDiscriminator(input_shape=(2,), hidden=(32, 32), dtype=dtype), (2,)),
], ids=['dcgan', 'mlp'])
def test_bfloat16_forward_matches_float32(make):
    """Same float32 parameters, both computation dtypes: outputs are float32 and agree to a few
    bf16 roundings (8-bit mantissa, 2^-8 = 0.4% per rounding, a handful of layers deep)."""
    g32, d32, shape = make(jnp.float32)
    g16, d16, _ = make(jnp.bfloat16)
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=(32, 8)), jnp.float32)
    x = jnp.asarray(np.tanh(rng.normal(size=(32, *shape))), jnp.float32)
    g_vars = g32.init(jax.random.key(0), z, train=False)
    d_vars = d32.init(jax.random.key(1), x, train=False)
    # The computation dtype does not change the parameters a network is built with.
    assert jax.tree.map(jnp.shape, g16.init(jax.random.key(0), z, train=False)) == jax.tree.map(jnp.shape, g_vars)
    assert _dtypes(g_vars) == _dtypes(d_vars) == {'float32'}

    @jax.jit
    def forwards(g_vars, d_vars):
        out = {}
        for name, g, d in (('f32', g32, d32), ('bf16', g16, d16)):
            fake, g_stats = g.apply(g_vars, z, train=True, mutable=['batch_stats'])
            (logits, features), d_stats = d.apply(d_vars, x, train=True, return_features=True,
                                                  mutable=['batch_stats'])
            out[name] = {'fake': fake, 'logits': logits, 'features': features,
                         'stats': (g_stats, d_stats), 'eval': g.apply(g_vars, z, train=False)}
        return out

    out = forwards(g_vars, d_vars)
    for name in ('fake', 'logits', 'features', 'eval'):
        full, half = out['f32'][name], out['bf16'][name]
        assert half.dtype == jnp.float32, name  # losses are taken in float32
        error = _relative_rms(half, full)
        assert error < 2e-2, (name, error)
        assert error > 1e-5, (name, error)  # bf16 really was used: float32 would agree to ~1e-7
    # Batch statistics stay float32 (Flax computes the moments in at least float32).
    assert _dtypes(out['bf16']['stats']) <= {'float32'}
    full_stats, half_stats = jax.tree.leaves(out['f32']['stats']), jax.tree.leaves(out['bf16']['stats'])
    for full, half in zip(full_stats, half_stats, strict=True):
        assert _relative_rms(half, full) < 2e-2


def test_unknown_compute_dtype_names_the_valid_ones():
    config = config_lib.load_config(DCGAN + ':tiny', ['compute_dtype=float16'])
    with pytest.raises(ValueError, match=r"unknown compute_dtype 'float16'; valid: \['float32', 'bfloat16'\]"):
        models.build_models(config, (16, 16, 1))


STEPS = 200


@pytest.fixture(scope='module')
def bf16_run(data_dir):
    """STEPS bf16 steps of a narrow 32x32 DCGAN on digits (one device): (game, initial state,
    final state, every step's losses)."""
    config = config_lib.load_config(DCGAN, ['compute_dtype=bfloat16', 'generator.width=16', 'discriminator.width=16',
                                            'batch_size=32', 'gan.latent_dim=32', f'num_steps={STEPS}',
                                            'num_devices=1'])
    spec = data.dataset_spec(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
    experiment = build_experiment(config, spec, sharding.make_mesh(1))
    initial = jax.device_get(experiment.state)  # the step donates its state
    state, key, losses = experiment.state, train_key(config), []
    iterator = data.make_iterator(config.dataset, split='train', global_batch_size=config.batch_size,
                                  seed=config.seed, image_size=config.image_size, data_dir=config.data_dir)
    for _ in range(STEPS):
        state, metrics = experiment.train_step(state, sharding.global_batch(next(iterator), experiment.mesh), key)
        losses.append((metrics['d_loss'], metrics['g_loss']))
    return experiment.game, initial, state, np.asarray(jax.device_get(losses))


def test_bfloat16_run_keeps_float32_parameters_and_optimizer_state(bf16_run):
    _, initial, state, losses = bf16_run
    assert np.all(np.isfinite(losses))
    for tree in (state.generator.params, state.discriminator.params, state.generator.opt_state,
                 state.discriminator.opt_state, state.generator.model_state['batch_stats'],
                 state.discriminator.model_state['batch_stats'], state.generator.ema_params):
        # Adam's step count is the one integer; every other leaf is float32.
        assert _dtypes(tree) <= {'float32', 'int32'}, _dtypes(tree)
        assert 'float32' in _dtypes(tree)
    assert int(state.step) == STEPS and _dtypes(initial.generator.params) == {'float32'}


def test_bfloat16_run_learns_to_draw_digits(bf16_run):
    """The digits classifier's mean confidence on 500 samples (G's current parameters, running
    batch statistics): 0.21 at initialisation (blank images, all called 8), 0.59 after the 200
    bf16 steps (six digits present) when this test was written."""
    game, initial, state, _ = bf16_run
    params = digits_classifier.load_params()

    def confidence(state):
        images = sampling.sample_outputs(state, game.sample_latents, jax.random.key(0), 500, use_ema=False)
        return digits_classifier.report(digits_classifier.predict(params, images)).mean_confidence

    before, after = confidence(initial), confidence(state)
    assert before < 0.3, before
    assert after > before + 0.2, (before, after)
