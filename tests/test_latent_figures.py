"""Latent-space figures render from a model's state: shapes, and the errors that name what is missing."""
import jax
import numpy as np
import pytest

from gans import config as config_lib
from gans import data
from gans.inference import latent_figures
from gans.engine.experiment import init_key, make_init

DCGAN = 'experiments/configs/dcgan_digits.py:tiny'
DIGITS16 = data.dataset_spec('digits', image_size=16)


def _state_and_game(overrides=()):
    config = config_lib.load_config(DCGAN, list(overrides))
    init, game = make_init(config, DIGITS16)
    return jax.jit(init)(init_key(config)), game


def test_interpolation_grid_has_rows_by_steps_images():
    state, game = _state_and_game()
    image = latent_figures.interpolation(state, game.sample_latents, jax.random.key(0), rows=3, steps=5)
    assert image.dtype == np.uint8 and image.shape == (3 * 17 + 1, 5 * 17 + 1, 1)


def test_manifold_needs_a_two_dimensional_latent():
    state, game = _state_and_game(['gan.latent_dim=2'])
    image = latent_figures.manifold(state, game.sample_latents, jax.random.key(0), size=4)
    assert image.shape == (4 * 17 + 1, 4 * 17 + 1, 1)
    # Neighbouring grid cells decode different latents, so the tiles differ.
    assert not np.array_equal(image[1:17, 1:17], image[1:17, 18:34])
    state, game = _state_and_game()
    with pytest.raises(ValueError, match='latent_dim 8'):
        latent_figures.manifold(state, game.sample_latents, jax.random.key(0))


def test_traversal_of_an_unconditional_model_says_there_is_nothing_to_traverse():
    state, game = _state_and_game()
    with pytest.raises(ValueError, match='no codes or labels'):
        latent_figures.traversal(state, game.sample_latents, jax.random.key(0), {'labels': 10})


def test_arithmetic_row_shows_each_term_and_the_result():
    state, game = _state_and_game()
    # A stand-in classifier: the class is the sample's brightness tercile, so every class is populated.
    def classify(images):
        brightness = images.reshape(len(images), -1).mean(1)
        return np.argsort(np.argsort(brightness)) * 3 // len(images)
    image = latent_figures.arithmetic(state, game.sample_latents, jax.random.key(0), '2-1+0', classify, 3,
                                      num_samples=60)
    assert image.shape == (17 + 1, 4 * 17 + 1, 1)
    with pytest.raises(ValueError, match='do not exist'):
        latent_figures.arithmetic(state, game.sample_latents, jax.random.key(0), '5-1', classify, 3)


def test_figure_commands_write_pngs(tmp_path, data_dir):
    from PIL import Image

    from gans import cli
    workdir = str(tmp_path / 'run')
    cli.main(['gans', 'train', f'--config={DCGAN}', f'--workdir={workdir}', '--config.num_steps=2',
              '--config.num_devices=1'])
    out = str(tmp_path / 'interp.png')
    cli.main(['gans', 'interpolate', f'--workdir={workdir}', '--num=2', '--steps=3', '--method=linear', f'--out={out}'])
    assert Image.open(out).size == (3 * 17 + 1, 2 * 17 + 1)
    with pytest.raises(ValueError, match='no codes or labels'):
        cli.main(['gans', 'traverse', f'--workdir={workdir}', f'--out={tmp_path / "t.png"}'])
