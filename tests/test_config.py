"""Config loading: variants, typed overrides, and errors that name the problem."""
import json

import pytest

from gans import config as config_lib

DCGAN = 'experiments/configs/dcgan_digits.py'


def test_overrides_are_typed_and_nested():
    config = config_lib.load_config(DCGAN, ['loss=hinge', 'num_steps=200', 'optim.d_lr=1e-3', 'optim.g_lr=1',
                                            'optim.simultaneous=True'])
    assert config.loss == 'hinge' and config.num_steps == 200
    assert config.optim.d_lr == 1e-3
    assert config.optim.g_lr == 1.0 and isinstance(config.optim.g_lr, float)
    assert config.optim.simultaneous is True


def test_tiny_variant_is_smaller():
    tiny, full = config_lib.load_config(f'{DCGAN}:tiny'), config_lib.load_config(DCGAN)
    assert tiny.num_steps < full.num_steps and tiny.batch_size < full.batch_size


def test_every_shipped_config_has_required_fields_and_a_tiny_variant():
    import glob
    for path in glob.glob('experiments/configs/*.py'):
        for variant in ('', ':tiny'):
            config = config_lib.load_config(path + variant)
            assert all(config.get(f) is not None for f in config_lib.REQUIRED_FIELDS), path


@pytest.mark.parametrize('overrides, message', [
    (['no_such_field=1'], "unknown config field 'no_such_field'"),
    (['optim.nope=1'], "unknown config field 'optim.nope'"),
    (['num_steps'], 'not of the form key=value'),
    (['num_steps=0'], 'num_steps must be a positive integer'),
])
def test_bad_overrides_name_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.load_config(DCGAN, overrides)


def test_missing_required_field_is_named():
    config = config_lib.load_config(DCGAN)
    config.dataset = None
    with pytest.raises(ValueError, match=r"lacks required fields \['dataset'\]"):
        config_lib.validate(config)


def test_unknown_variant_and_missing_file():
    with pytest.raises(ValueError, match='unknown variant'):
        config_lib.load_config(f'{DCGAN}:huge')
    with pytest.raises(FileNotFoundError, match='config file not found'):
        config_lib.load_config('experiments/configs/nope.py')


def test_workdir_round_trip(tmp_path):
    config = config_lib.load_config(DCGAN, ['loss=lsgan'])
    config_lib.save_config(config, str(tmp_path))
    assert config_lib.load_workdir_config(str(tmp_path)).to_dict() == config.to_dict()


def test_configs_are_completed_over_base_config(tmp_path):
    """A config file sets only its own fields; one saved by an older engine lacks newer ones.
    Both load with every base_config() field, at its default where the file is silent."""
    loaded = config_lib.load_config(DCGAN)
    base = config_lib.base_config()
    for name in ('d_maxout', 'began_autoencoder', 'g_hidden'):
        assert name in loaded and loaded[name] == base[name]
    assert loaded.optim.lr_schedule == base.optim.lr_schedule
    saved = loaded.to_dict()
    del saved['began_autoencoder'], saved['optim']['lr_schedule']
    saved['g_width'] = 48
    (tmp_path / config_lib.CONFIG_FILENAME).write_text(json.dumps(saved))
    restored = config_lib.load_workdir_config(str(tmp_path))
    assert restored.began_autoencoder == 'mlp' and restored.optim.lr_schedule == 'constant'
    assert restored.g_width == 48 and restored.model == loaded.model
