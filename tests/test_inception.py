"""InceptionV3-FID: architecture, FID quirks, preprocessing, the weight file and the pytorch-fid mapping.

The reference layer table below is transcribed from pytorch-fid's module tree (torchvision's
Inception3 blocks, no aux head, 1008-way fc), independently of the Flax model, so the
conversion is checked against pytorch-fid's names and shapes rather than against itself.
"""
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from gans.engine import sharding
from gans.metrics import inception, inception_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torchvision documents 27,161,264 parameters for InceptionV3 with its aux head and 1000 classes.
# The FID graph has no aux head (conv0 128*768 + bn 2*128, conv1 768*128*25 + bn 2*768,
# fc 768*1000 + 1000: 3,326,696 in all) and 1008 classes (8 * 2049 more in fc).
FID_INCEPTION_PARAMS = 27_161_264 - 3_326_696 + 8 * 2049
assert FID_INCEPTION_PARAMS == 23_850_960


def fid_inception_convs() -> list[tuple[str, int, int, tuple[int, int]]]:
    """(module, in, out, kernel) of every BasicConv2d in pytorch-fid's FID InceptionV3."""
    convs = [('Conv2d_1a_3x3', 3, 32, (3, 3)), ('Conv2d_2a_3x3', 32, 32, (3, 3)),
             ('Conv2d_2b_3x3', 32, 64, (3, 3)), ('Conv2d_3b_1x1', 64, 80, (1, 1)),
             ('Conv2d_4a_3x3', 80, 192, (3, 3))]
    for m, cin, pool in (('Mixed_5b', 192, 32), ('Mixed_5c', 256, 64), ('Mixed_5d', 288, 64)):
        convs += [(f'{m}.branch1x1', cin, 64, (1, 1)), (f'{m}.branch5x5_1', cin, 48, (1, 1)),
                  (f'{m}.branch5x5_2', 48, 64, (5, 5)), (f'{m}.branch3x3dbl_1', cin, 64, (1, 1)),
                  (f'{m}.branch3x3dbl_2', 64, 96, (3, 3)), (f'{m}.branch3x3dbl_3', 96, 96, (3, 3)),
                  (f'{m}.branch_pool', cin, pool, (1, 1))]
    convs += [('Mixed_6a.branch3x3', 288, 384, (3, 3)), ('Mixed_6a.branch3x3dbl_1', 288, 64, (1, 1)),
              ('Mixed_6a.branch3x3dbl_2', 64, 96, (3, 3)), ('Mixed_6a.branch3x3dbl_3', 96, 96, (3, 3))]
    for m, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
        convs += [(f'{m}.branch1x1', 768, 192, (1, 1)), (f'{m}.branch7x7_1', 768, c7, (1, 1)),
                  (f'{m}.branch7x7_2', c7, c7, (1, 7)), (f'{m}.branch7x7_3', c7, 192, (7, 1)),
                  (f'{m}.branch7x7dbl_1', 768, c7, (1, 1)), (f'{m}.branch7x7dbl_2', c7, c7, (7, 1)),
                  (f'{m}.branch7x7dbl_3', c7, c7, (1, 7)), (f'{m}.branch7x7dbl_4', c7, c7, (7, 1)),
                  (f'{m}.branch7x7dbl_5', c7, 192, (1, 7)), (f'{m}.branch_pool', 768, 192, (1, 1))]
    convs += [('Mixed_7a.branch3x3_1', 768, 192, (1, 1)), ('Mixed_7a.branch3x3_2', 192, 320, (3, 3)),
              ('Mixed_7a.branch7x7x3_1', 768, 192, (1, 1)), ('Mixed_7a.branch7x7x3_2', 192, 192, (1, 7)),
              ('Mixed_7a.branch7x7x3_3', 192, 192, (7, 1)), ('Mixed_7a.branch7x7x3_4', 192, 192, (3, 3))]
    for m, cin in (('Mixed_7b', 1280), ('Mixed_7c', 2048)):
        convs += [(f'{m}.branch1x1', cin, 320, (1, 1)), (f'{m}.branch3x3_1', cin, 384, (1, 1)),
                  (f'{m}.branch3x3_2a', 384, 384, (1, 3)), (f'{m}.branch3x3_2b', 384, 384, (3, 1)),
                  (f'{m}.branch3x3dbl_1', cin, 448, (1, 1)), (f'{m}.branch3x3dbl_2', 448, 384, (3, 3)),
                  (f'{m}.branch3x3dbl_3a', 384, 384, (1, 3)), (f'{m}.branch3x3dbl_3b', 384, 384, (3, 1)),
                  (f'{m}.branch_pool', cin, 192, (1, 1))]
    return convs


def synthetic_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    """A torch-layout state_dict of the FID network with random, well-scaled values."""
    rng = np.random.default_rng(seed)
    state = {}
    for module, cin, cout, (kh, kw) in fid_inception_convs():
        fan_in = cin * kh * kw
        state[f'{module}.conv.weight'] = rng.normal(0, np.sqrt(2 / fan_in), (cout, cin, kh, kw)).astype(np.float32)
        state[f'{module}.bn.weight'] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        state[f'{module}.bn.bias'] = rng.normal(0, 0.1, cout).astype(np.float32)
        state[f'{module}.bn.running_mean'] = rng.normal(0, 0.1, cout).astype(np.float32)
        state[f'{module}.bn.running_var'] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        state[f'{module}.bn.num_batches_tracked'] = np.array(0, np.int64)
    state['fc.weight'] = rng.normal(0, np.sqrt(1 / 2048), (1008, 2048)).astype(np.float32)
    state['fc.bias'] = rng.normal(0, 0.1, 1008).astype(np.float32)
    return state


@pytest.fixture(scope='module')
def torch_state() -> dict[str, np.ndarray]:
    return synthetic_state_dict()


@pytest.fixture(scope='module')
def variables(torch_state) -> dict:
    return inception_weights.convert_torch_state_dict(torch_state)


@pytest.fixture(scope='module')
def apply_fn():
    return jax.jit(inception.InceptionV3FID().apply)


def _random_images(shape, seed=0, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.uniform(-1, 1, shape).astype(dtype)


# --- architecture ---------------------------------------------------------------------------

def test_output_shapes_and_parameter_count():
    shapes = jax.eval_shape(inception.init_variables, jax.random.key(0))
    out = jax.eval_shape(inception.InceptionV3FID().apply, shapes, jax.ShapeDtypeStruct((2, 299, 299, 3), jnp.float32))
    assert out['pool3'].shape == (2, inception.POOL3_DIM) == (2, 2048)
    assert out['logits'].shape == (2, inception.NUM_LOGITS) == (2, 1008)
    assert inception.num_parameters(shapes) == FID_INCEPTION_PARAMS
    convs = fid_inception_convs()
    assert len(convs) == 94
    assert inception.num_parameters(shapes, ('batch_stats',)) == 2 * sum(cout for _, _, cout, _ in convs)


def test_forward_at_fid_size_and_minimum_size(variables, apply_fn):
    out = apply_fn(variables, _random_images((2, 299, 299, 3)))
    assert out['pool3'].shape == (2, 2048) and out['logits'].shape == (2, 1008)
    assert np.all(np.isfinite(out['logits']))
    assert np.all(out['pool3'] >= 0)  # Mean of ReLU outputs.
    assert not np.allclose(out['pool3'][0], out['pool3'][1])  # Depends on the image.
    assert apply_fn(variables, _random_images((1, 75, 75, 3)))['pool3'].shape == (1, 2048)
    with pytest.raises(ValueError, match='at least 75x75'):
        inception.InceptionV3FID().apply(variables, jnp.zeros((1, 74, 80, 3)))
    with pytest.raises(ValueError, match=r'\[N, H, W, 3\]'):
        inception.InceptionV3FID().apply(variables, jnp.zeros((1, 299, 299, 1)))


def _pool_3x3_reference(x: np.ndarray, kind: str) -> np.ndarray:
    """3x3, stride 1, pad 1 pooling of [N, H, W, C]; 'avg' divides by in-image pixels only."""
    n, h, w, c = x.shape
    fill = -np.inf if kind == 'max' else np.nan
    padded = np.full((n, h + 2, w + 2, c), fill, x.dtype)
    padded[:, 1:-1, 1:-1] = x
    windows = np.stack([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)])
    return windows.max(axis=0) if kind == 'max' else np.nanmean(windows, axis=0)


@pytest.mark.parametrize('kind', ['avg', 'max'])
def test_inception_e_pool_branch_is_the_fid_graph_pool(kind):
    """An identity branch_pool conv exposes the pool: average excluding padding, or max (Mixed_7c)."""
    channels = 192
    block = inception.InceptionE(kind)
    x = _random_images((1, 5, 5, channels), seed=1) + 2.0  # Positive, so the ReLU passes it through.
    rng = np.random.default_rng(2)
    shapes = jax.eval_shape(block.init, jax.random.key(0), x)  # Tracing only: random init compiles slowly.
    variables = jax.tree.map(lambda s: rng.normal(0, 0.05, s.shape).astype(np.float32), shapes)
    bn = variables['params']['branch_pool']['bn']
    variables['params']['branch_pool']['conv']['kernel'] = np.eye(channels, dtype=np.float32)[None, None]
    bn['scale'], bn['bias'] = np.ones(channels, np.float32), np.zeros(channels, np.float32)
    stats = variables['batch_stats']['branch_pool']['bn']
    stats['mean'], stats['var'] = np.zeros(channels, np.float32), np.full(channels, 1 - 1e-3, np.float32)
    out = block.apply(variables, x)
    assert out.shape == (1, 5, 5, 2048)
    np.testing.assert_allclose(out[..., -channels:], _pool_3x3_reference(x, kind), rtol=1e-5)


def test_model_uses_max_pool_exactly_where_the_fid_graph_does(variables):
    # Max pools: two in the stem, one in each reduction block (Mixed_6a, Mixed_7a) and Mixed_7c's.
    jaxpr = jax.make_jaxpr(inception.InceptionV3FID().apply)(variables, jnp.zeros((1, 75, 75, 3)))
    assert str(jaxpr).count('reduce_window_max') == 5


# --- preprocessing --------------------------------------------------------------------------

@pytest.mark.parametrize('shape', [(2, 32, 32), (2, 32, 32, 1)])
def test_preprocess_grayscale_uint8(shape):
    images = _random_images(shape, dtype=np.uint8)
    images[0] = 0
    images[1, :16] = 255
    x = np.asarray(inception.preprocess(images))
    assert x.shape == (2, 299, 299, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], x[..., 1])
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    # Bilinear weights sum to 1 up to rounding, so constant regions stay constant to ~1 ulp.
    assert x.min() >= -1.0 - 1e-6 and x.max() <= 1.0 + 1e-6
    np.testing.assert_allclose(x[0], -1.0, atol=1e-6)
    np.testing.assert_allclose(x[1, :140], 1.0, atol=1e-6)
    assert x[1, 160:].min() < 0.5  # The random half stays random.


def test_preprocess_float_range_and_no_op_at_fid_size():
    images = _random_images((1, 299, 299, 3))
    np.testing.assert_array_equal(inception.preprocess(images), images)
    unit = np.stack([np.zeros((75, 75, 3)), np.ones((75, 75, 3))]).astype(np.float32)
    np.testing.assert_array_equal(inception.preprocess(unit, size=75, value_range=(0, 1)),
                                  np.stack([-np.ones((75, 75, 3)), np.ones((75, 75, 3))]))


@pytest.mark.parametrize('images, match', [
    (np.zeros((2, 32, 32, 3), np.int32), 'dtype int32'),
    (np.zeros((2, 32, 32, 2), np.uint8), r'shape \(2, 32, 32, 2\)'),
    (np.zeros((32, 32), np.uint8), r'shape \(32, 32\)'),
])
def test_preprocess_rejects_bad_images(images, match):
    with pytest.raises(ValueError, match=match):
        inception.preprocess(images)


@pytest.mark.parametrize('source_size', [40, 150])
def test_resize_matches_torch_bilinear(source_size):
    """pytorch-fid resizes [0, 1] images with interpolate(bilinear, align_corners=False), then 2x - 1."""
    torch = pytest.importorskip('torch')
    images = _random_images((2, source_size, source_size + 7, 3), dtype=np.uint8)
    nchw = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    expected = 2 * torch.nn.functional.interpolate(nchw, size=(75, 75), mode='bilinear', align_corners=False) - 1
    got = inception.preprocess(images, size=75)
    # Weights are computed differently (~1e-6 apart); a half-pixel misalignment would be ~1e-1.
    np.testing.assert_allclose(got, expected.numpy().transpose(0, 2, 3, 1), atol=1e-5)


# --- weight file ----------------------------------------------------------------------------

def test_weight_file_round_trip(variables, apply_fn, tmp_path, monkeypatch):
    path = str(tmp_path / 'weights' / 'inception_fid.npz')
    inception.save_params(variables, path)
    monkeypatch.setenv(inception_weights.ENV_VAR, path)
    loaded = inception.load_params()  # Found through the environment variable.
    expected, got = inception_weights.flatten(variables), inception_weights.flatten(loaded)
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    images = _random_images((2, 75, 75, 3))
    for name, value in apply_fn(loaded, images).items():
        np.testing.assert_array_equal(value, apply_fn(variables, images)[name])


def test_weight_file_rejects_other_architectures_and_formats(variables, tmp_path):
    flat = inception_weights.flatten(variables)
    flat['params/fc/bias'] = np.zeros(1000, np.float32)
    with pytest.raises(ValueError, match=r'params/fc/bias \(1000,\) != \(1008,\)'):
        inception_weights.save_params(traverse_util.unflatten_dict(flat, sep='/'), str(tmp_path / 'a'))
    not_ours = tmp_path / 'other.npz'
    np.savez(not_ours, x=np.zeros(3))
    with pytest.raises(ValueError, match='not an InceptionV3-FID weight file'):
        inception.load_params(str(not_ours))


def test_missing_file_error_says_where_and_how(tmp_path, monkeypatch):
    missing = str(tmp_path / 'nowhere.npz')
    monkeypatch.setenv(inception_weights.ENV_VAR, missing)
    with pytest.raises(FileNotFoundError) as error:
        inception.load_params()
    message = str(error.value)
    for needle in (missing, 'experiments/convert_inception_weights.py', 'pt_inception-2015-12-05-6726825d.pth',
                   'GANS_INCEPTION_WEIGHTS'):
        assert needle in message
    monkeypatch.delenv(inception_weights.ENV_VAR)
    monkeypatch.setenv('HOME', str(tmp_path))
    with pytest.raises(FileNotFoundError, match=os.path.join(str(tmp_path), '.cache', 'gans', 'inception_fid.npz')):
        inception.load_params()


# --- pytorch-fid conversion -----------------------------------------------------------------

def test_mapping_covers_every_variable_exactly_once(torch_state, variables):
    expected = inception_weights.expected_shapes()
    names = [inception_weights.torch_name(key)[0] for key in expected]
    assert len(set(names)) == len(names) == len(expected) == 94 * 5 + 2
    assert set(names) == {k for k in torch_state if not k.endswith('num_batches_tracked')}
    assert set(inception_weights.flatten(variables)) == set(expected)
    learned = [v for k, v in torch_state.items() if not k.endswith(('running_mean', 'running_var', 'tracked'))]
    assert sum(v.size for v in learned) == FID_INCEPTION_PARAMS
    # Values land in Flax layout: an asymmetric kernel, the classifier and a running statistic.
    kernel = variables['params']['Mixed_6b']['branch7x7_2']['conv']['kernel']
    assert kernel.shape == (1, 7, 128, 128)
    np.testing.assert_array_equal(kernel[0, 5, 3, 9], torch_state['Mixed_6b.branch7x7_2.conv.weight'][9, 3, 0, 5])
    np.testing.assert_array_equal(variables['params']['fc']['kernel'], torch_state['fc.weight'].T)
    np.testing.assert_array_equal(variables['batch_stats']['Mixed_7c']['branch_pool']['bn']['var'],
                                  torch_state['Mixed_7c.branch_pool.bn.running_var'])


@pytest.mark.parametrize('edit, match', [
    (lambda s: s.pop('Mixed_5b.branch5x5_2.bn.running_var'), '1 tensors missing: Mixed_5b.branch5x5_2.bn.running_var'),
    (lambda s: s.update({'AuxLogits.fc.weight': np.zeros((1008, 768))}), 'not in the FID network: AuxLogits.fc.weight'),
    (lambda s: s.update({'fc.weight': np.zeros((1000, 2048))}), r'wrong shape: fc.weight \(1000, 2048\)'),
])
def test_conversion_rejects_other_state_dicts(torch_state, edit, match):
    state = dict(torch_state)
    edit(state)
    with pytest.raises(ValueError, match=match):
        inception_weights.convert_torch_state_dict(state)


def test_converted_layer_matches_torch_layer(torch_state, variables):
    """A (1, 7) conv + batch norm + ReLU gives torch's numbers: kernel layout and padding carry over."""
    torch = pytest.importorskip('torch')
    functional = torch.nn.functional
    prefix = 'Mixed_6b.branch7x7_2'
    x = _random_images((2, 9, 11, 128), seed=3)
    t = {k[len(prefix) + 1:]: torch.from_numpy(v) for k, v in torch_state.items() if k.startswith(prefix + '.')}
    y = functional.conv2d(torch.from_numpy(x.transpose(0, 3, 1, 2)), t['conv.weight'], padding=(0, 3))
    y = functional.batch_norm(y, t['bn.running_mean'], t['bn.running_var'], t['bn.weight'], t['bn.bias'],
                              training=False, eps=1e-3)
    expected = torch.relu(y).numpy().transpose(0, 2, 3, 1)
    layer = {c: variables[c]['Mixed_6b']['branch7x7_2'] for c in ('params', 'batch_stats')}
    got = inception.ConvBN(128, (1, 7), padding=(0, 3)).apply(layer, x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_conversion_script_end_to_end(torch_state, variables, tmp_path):
    torch = pytest.importorskip('torch')
    pth = tmp_path / inception_weights.TORCH_WEIGHTS_FILE
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in torch_state.items()}, pth)
    spec = importlib.util.spec_from_file_location('convert', os.path.join(ROOT, inception_weights.CONVERT_SCRIPT))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    dest = str(tmp_path / 'out.npz')
    summary = script.main([str(pth), dest])
    assert summary['parameters'] == FID_INCEPTION_PARAMS and not summary['source_is_the_published_file']
    loaded = inception_weights.flatten(inception.load_params(dest))
    for key, value in inception_weights.flatten(variables).items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


# --- feature function -----------------------------------------------------------------------

def test_feature_fn_batches_and_shards_like_one_call(variables, apply_fn):
    images = _random_images((5, 32, 32), dtype=np.uint8)
    direct = apply_fn(variables, inception.preprocess(images, size=75))
    mesh = sharding.make_mesh(2)
    for kwargs in ({}, {'mesh': mesh}):
        features = inception.feature_fn(variables, batch_size=4, size=75, **kwargs)(images)
        assert features['pool3'].shape == (5, 2048) and features['logits'].shape == (5, 1008)
        for name in ('pool3', 'logits'):
            np.testing.assert_allclose(features[name], direct[name], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match='not divisible'):
        inception.feature_fn(variables, batch_size=3, mesh=mesh)
    with pytest.raises(ValueError, match='empty'):
        inception.feature_fn(variables)(np.zeros((0, 299, 299, 3), np.float32))
