"""Config loading: nested sections per component, variants, typed overrides, and errors that name
the problem (an old flat field names its new place)."""
import glob
import json
import os

import pytest

from gans import cli, games
from gans import config as config_lib

DCGAN = 'experiments/configs/dcgan_digits.py'
CGAN = 'experiments/configs/cgan_digits.py'
SHIPPED = sorted(glob.glob('experiments/configs/*.py'))
# common.py: the configs' shared bases; __init__.py: the folder as the package gans.configs.
SHIPPED = [path for path in SHIPPED if os.path.basename(path)[:-3] not in config_lib.NOT_CONFIGS]


def test_overrides_are_typed_and_nested():
    config = config_lib.load_config(DCGAN, ['gan.loss=hinge', 'num_steps=200', 'optim.d_lr=1e-3', 'optim.g_lr=1',
                                            'optim.simultaneous=True', 'generator.width=16'])
    assert config.gan.loss == 'hinge' and config.num_steps == 200
    assert config.optim.d_lr == 1e-3
    assert config.optim.g_lr == 1.0 and isinstance(config.optim.g_lr, float)
    assert config.optim.simultaneous is True
    assert config.generator.width == 16 and config.discriminator.width == 32


def test_tiny_variant_is_smaller():
    tiny, full = config_lib.load_config(f'{DCGAN}:tiny'), config_lib.load_config(DCGAN)
    assert tiny.num_steps < full.num_steps and tiny.batch_size < full.batch_size


def test_every_shipped_config_has_required_fields_and_a_tiny_variant():
    assert len(SHIPPED) >= 10
    for path in SHIPPED:
        for variant in ('', ':tiny'):
            config = config_lib.load_config(path + variant)
            assert all(config.get(f) is not None for f in config_lib.REQUIRED_FIELDS), path
            # Its game's section, and no other game's.
            assert config.game in config, path
            assert not [name for name in games.GAMES if name != config.game and name in config], path


# The fields that size a run, wherever they sit (engine, game section, network sections).
SIZE_FIELDS = ('num_steps', 'batch_size', 'image_size', 'grid_size', 'latent_dim', 'code_dim', 'width', 'hidden',
               'generators')


def _sizes(tree, prefix=''):
    """{dotted name: size} of every size field; a tuple of hidden layers counts its units."""
    sizes = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            sizes.update(_sizes(value, f'{prefix}{name}.'))
        elif name in SIZE_FIELDS and value is not None:
            sizes[f'{prefix}{name}'] = sum(value) if isinstance(value, (tuple, list)) else value
    return sizes


def _fields(tree, prefix=''):
    """Every dotted field name of a config's dict."""
    names = set()
    for name, value in tree.items():
        names |= _fields(value, f'{prefix}{name}.') if isinstance(value, dict) else {f'{prefix}{name}'}
    return names


@pytest.mark.parametrize('path', SHIPPED, ids=[os.path.basename(p)[:-3] for p in SHIPPED])
def test_every_shipped_tiny_variant_is_smaller_than_its_config(path):
    """Fewer steps, and no size of any section larger than the full config's (the batch no larger:
    the tiny batch is 16 for every config, pix2pix's full batch too)."""
    tiny, full = config_lib.load_config(f'{path}:tiny'), config_lib.load_config(path)
    assert tiny.game == full.game and tiny.model == full.model
    assert tiny.num_steps < full.num_steps and tiny.batch_size <= full.batch_size, path
    assert _fields(tiny.to_dict()) == _fields(full.to_dict())  # it changes values, never drops or adds a field
    tiny_sizes, full_sizes = _sizes(tiny.to_dict()), _sizes(full.to_dict())
    # (A full config's image_size may be None, the dataset's own size; the tiny variant's is 16.)
    assert full_sizes.keys() <= tiny_sizes.keys()
    larger = {name: (tiny_sizes[name], full_sizes[name]) for name in full_sizes if tiny_sizes[name] > full_sizes[name]}
    assert not larger, (path, larger)
    # The networks shrink too, not only the run's length.
    section_sizes = [name for name in full_sizes if '.' in name and tiny_sizes[name] < full_sizes[name]]
    assert section_sizes, path


@pytest.mark.parametrize('overrides, message', [
    (['no_such_field=1'], "unknown config field 'no_such_field'"),
    (['optim.nope=1'], "unknown config field 'optim.nope'"),
    (['gan.nope=1'], "unknown config field 'gan.nope'"),
    (['generator.nope=1'], "unknown config field 'generator.nope'"),
    (['nope.width=1'], "unknown config field 'nope.width'"),
    (['num_steps'], 'not of the form key=value'),
    (['num_steps=0'], 'num_steps must be a positive integer'),
    (['game=no_such_game'], "unknown game 'no_such_game'"),
])
def test_bad_overrides_name_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.load_config(DCGAN, overrides)


@pytest.mark.parametrize('path, override, new_place', [
    (DCGAN, 'began_gamma=1', 'began.gamma'),
    (DCGAN, 'loss=hinge', 'gan.loss'),
    (CGAN, 'loss=hinge', 'cgan.loss'),  # '{game}' fields move into the section of config.game
    (DCGAN, 'latent_dim=8', 'gan.latent_dim'),
    (DCGAN, 'g_width=16', 'generator.width'),
    (DCGAN, 'd_batch_norm=False', 'discriminator.batch_norm'),
    (DCGAN, 'pack=4', 'discriminator.pack'),
    (DCGAN, 'unroll_steps=2', 'gan.unroll_steps'),
    (DCGAN, 'optim.r1_weight=1', 'gan.r1_weight'),
    (CGAN, 'conditional_discriminator=concat', 'cgan.discriminator'),
])
def test_old_flat_override_names_its_new_place(path, override, new_place):
    name = override.partition('=')[0]
    with pytest.raises(ValueError, match=f"config field '{name}' moved to '{new_place}'"):
        config_lib.load_config(path, [override])


def _write_config_file(path, body: str) -> str:
    path.write_text('from gans.config import base_config\n\n\ndef get_config():\n'
                    "    config = base_config('gan', 'dcgan')\n    config.dataset = 'digits'\n"
                    '    config.num_steps = 10\n' + body + '    return config\n')
    return str(path)


@pytest.mark.parametrize('body, name, new_place', [
    ('    config.began_gamma = 0.7\n', 'began_gamma', 'began.gamma'),
    ("    config.loss = 'hinge'\n", 'loss', 'gan.loss'),
    ('    config.optim.gradient_penalty_weight = 5.0\n', 'optim.gradient_penalty_weight',
     'gan.gradient_penalty_weight'),
])
def test_old_flat_field_in_a_config_file_names_its_new_place(tmp_path, body, name, new_place):
    path = _write_config_file(tmp_path / 'old_style.py', body)
    with pytest.raises(ValueError, match=f"config field '{name}' moved to '{new_place}'"):
        config_lib.load_config(path)


@pytest.mark.parametrize('overrides', [['game=began', 'began.gamma=1'], ['began.gamma=1', 'game=began']],
                         ids=['game_first', 'section_first'])
def test_game_override_brings_its_section_in_either_order(overrides):
    full = config_lib.load_config(DCGAN)
    config = config_lib.load_config(DCGAN, overrides)
    defaults = config_lib.base_config('began')
    assert config.game == 'began'
    assert config.began.gamma == 1.0 and isinstance(config.began.gamma, float)
    # The rest of the section is the game's defaults; the old game's section is gone.
    for name in defaults.began:
        if name != 'gamma':
            assert config.began[name] == defaults.began[name], name
    assert 'gan' not in config
    # Engine fields and the networks' sections are the file's.
    assert config.num_steps == full.num_steps and config.generator.width == full.generator.width == 32


def test_game_override_on_the_command_line_in_either_order():
    for argv in (['--config.game=began', '--config.began.gamma=1'], ['--config.began.gamma', '1', '--config.game',
                                                                     'began']):
        overrides, rest = cli._split_config_overrides(['gans', f'--config={DCGAN}', *argv])
        assert rest == ['gans', f'--config={DCGAN}']
        config = config_lib.load_config(DCGAN, overrides)
        assert config.game == 'began' and config.began.gamma == 1.0 and 'gan' not in config


def test_model_override_replaces_the_network_sections():
    config = config_lib.load_config(DCGAN, ['discriminator.hidden=(8, 8)', 'model=mlp'])
    defaults = config_lib.base_config('gan', 'mlp')
    assert config.model == 'mlp' and tuple(config.discriminator.hidden) == (8, 8)
    assert config.generator.to_dict() == defaults.generator.to_dict()
    assert 'width' not in config.generator and 'width' not in config.discriminator


def test_section_of_another_game_is_refused(tmp_path):
    # As an override: config.game is gan, so there is no began section to set.
    with pytest.raises(ValueError, match=r"unknown config field 'began.gamma'"):
        config_lib.load_config(DCGAN, ['began.gamma=1'])
    # In a config file: a section of a game that is not config.game would never be read.
    path = _write_config_file(tmp_path / 'foreign.py', "    config.began = base_config('began').began\n")
    with pytest.raises(ValueError, match=r"has a section 'began' but config.game is 'gan'"):
        config_lib.load_config(path)
    # In a saved config.
    saved = config_lib.load_config(DCGAN).to_dict()
    saved['began'] = config_lib.base_config('began').began.to_dict()
    (tmp_path / config_lib.CONFIG_FILENAME).write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"has a section 'began' but config.game is 'gan'"):
        config_lib.load_workdir_config(str(tmp_path))


def test_missing_required_field_is_named():
    config = config_lib.load_config(DCGAN)
    config.dataset = None
    with pytest.raises(ValueError, match=r"lacks required fields \['dataset'\]"):
        config_lib.validate(config)


def test_unknown_variant_and_missing_file():
    with pytest.raises(ValueError, match='unknown variant'):
        config_lib.load_config(f'{DCGAN}:huge')
    with pytest.raises(FileNotFoundError, match="no config 'experiments/configs/nope.py': not a file, and not a "
                                                "shipped config name"):
        config_lib.load_config('experiments/configs/nope.py')


@pytest.mark.parametrize('path, overrides', [(DCGAN, ['gan.loss=lsgan']),
                                             ('experiments/configs/began_digits.py', ['began.gamma=0.7']),
                                             ('experiments/configs/mlp_ring8.py:tiny', [])])
def test_workdir_round_trip(tmp_path, path, overrides):
    config = config_lib.load_config(path, overrides)
    config_lib.save_config(config, str(tmp_path))
    assert config_lib.load_workdir_config(str(tmp_path)).to_dict() == config.to_dict()


def test_configs_are_completed_over_their_components_defaults(tmp_path):
    """A config file sets only its own fields; one saved by an older engine lacks newer ones.
    Both load with every field of the engine, of their game's section and of their model's
    network sections, at its default where the file is silent."""
    loaded = config_lib.load_config(DCGAN)
    base = config_lib.base_config('gan', 'dcgan')
    assert loaded.gan.unroll_optimizer == base.gan.unroll_optimizer
    assert loaded.gan.replay_fraction == base.gan.replay_fraction
    assert loaded.discriminator.minibatch_kernels == base.discriminator.minibatch_kernels
    assert loaded.optim.lr_schedule == base.optim.lr_schedule
    for section in ('gan', 'generator', 'discriminator', 'optim'):
        assert loaded[section].keys() == base[section].keys(), section
    saved = loaded.to_dict()
    del saved['gan']['replay_fraction'], saved['discriminator']['minibatch_kernels'], saved['optim']['lr_schedule']
    saved['generator']['width'] = 48
    (tmp_path / config_lib.CONFIG_FILENAME).write_text(json.dumps(saved))
    restored = config_lib.load_workdir_config(str(tmp_path))
    assert restored.gan.replay_fraction == 0.5 and restored.discriminator.minibatch_kernels == 32
    assert restored.optim.lr_schedule == 'constant'
    assert restored.generator.width == 48 and restored.model == loaded.model


# A config.json as the flat engine wrote it (a few of its fields).
FLAT_CONFIG = {'game': 'gan', 'model': 'dcgan', 'dataset': 'digits', 'num_steps': 5000, 'batch_size': 64, 'seed': 0,
               'checkpoint_every': 1000, 'sample_every': 250, 'loss': 'nonsaturating', 'latent_dim': 64,
               'g_width': 32, 'd_width': 32, 'began_gamma': 0.5,
               'optim': {'g_lr': 2e-4, 'd_lr': 2e-4, 'gradient_penalty_weight': None, 'r1_weight': 0.0}}


def _snapshot(workdir):
    found = {}
    for parent, _, files in os.walk(workdir):
        for name in files:
            path = os.path.join(parent, name)
            found[os.path.relpath(path, workdir)] = (open(path, 'rb').read(), os.path.getmtime(path))
    return found


def test_flat_workdir_config_of_an_older_version_is_refused_and_left_alone(tmp_path):
    workdir = tmp_path / 'old_run'
    os.makedirs(workdir / 'checkpoints' / '1000')
    (workdir / config_lib.CONFIG_FILENAME).write_text(json.dumps(FLAT_CONFIG, indent=2))
    (workdir / 'metrics.jsonl').write_text('{"step": 1, "d_loss": 1.0}\n')
    before = _snapshot(str(workdir))
    with pytest.raises(ValueError, match=r'written by an older version of gans.*flat.*Nothing was changed'):
        config_lib.load_workdir_config(str(workdir))
    # The commands that read a workdir's config stop at the same error, before touching anything.
    out = tmp_path / 'samples.npz'
    with pytest.raises(ValueError, match='older version'):
        cli.main(['gans', 'sample', f'--workdir={workdir}', f'--out={out}'])
    assert _snapshot(str(workdir)) == before
    assert not out.exists()
