"""Slow: the default DCGAN, trained briefly, draws all ten digits that a classifier recognises."""
import jax
import pytest

from gans import config as config_lib
from gans import data, games
from gans.inference import sampling
from gans.engine.loop import train
from gans.metrics import digits_classifier


@pytest.mark.slow
def test_short_dcgan_run_draws_all_ten_recognisable_digits(tmp_path, data_dir):
    config = config_lib.load_config('experiments/configs/dcgan_digits.py',
                                    ['num_steps=2000', 'sample_every=1000', 'checkpoint_every=2000',
                                     # One device: XLA:CPU's simulated-device collectives can time out
                                     # (40 s) on a loaded 2-core machine over thousands of steps.
                                     'num_devices=1'])
    state = train(config, str(tmp_path))
    game = games.build_game(config, data.config_spec(config)).game
    images = sampling.sample_outputs(state, game.sample_latents, jax.random.key(0), 500)
    params = digits_classifier.load_params()
    result = digits_classifier.report(digits_classifier.predict(params, images))
    assert result.classes_present == 10, result
    assert result.mean_confidence > 0.75, result
