"""The evaluation protocols end to end: shipped digits network, reference cache, CLI, 2-D points."""
import json
import os

import numpy as np
import pytest

from gans import cli
from gans.inference import evaluate
from gans.metrics import digits_classifier
from gans.metrics.feature_networks import load_feature_network


@pytest.fixture(scope='module')
def cache(tmp_path_factory, data_dir):
    path = str(tmp_path_factory.mktemp('cache'))
    os.environ[evaluate.CACHE_ENV] = path
    return path


@pytest.fixture(scope='module')
def network(cache):
    return load_feature_network('digits')


def test_shipped_digits_network_is_small_and_accurate(data_dir):
    assert os.path.getsize(digits_classifier.WEIGHTS_PATH) < 400_000
    accuracy = digits_classifier.test_accuracy(digits_classifier.load_params(), data_dir)
    assert accuracy >= 0.98


def test_reference_is_cached_on_disk(network, cache):
    first = evaluate.reference('digits', network, split='train')
    files = os.listdir(os.path.join(cache, 'reference'))
    assert len(files) == 1 and 'digits-train-native-digits' in files[0]
    second = evaluate.reference('digits', network, split='train')
    np.testing.assert_array_equal(first.features, second.features)
    assert first.stats.num_samples == second.stats.num_samples == 1497


def test_real_digits_score_better_than_noise_and_a_repeated_digit(network):
    ref = evaluate.reference('digits', network, split='train')
    test_images, _ = digits_classifier.load_split('test')
    real = evaluate.image_metrics([test_images], ref, network)
    noise = evaluate.image_metrics([np.random.default_rng(0).uniform(-1, 1, (300, 32, 32, 1))], ref, network)
    repeated = evaluate.image_metrics([np.repeat(test_images[:1], 300, axis=0)], ref, network)
    assert real['fid'] * 10 < min(noise['fid'], repeated['fid'])
    assert real['inception_score_mean'] > 7 and repeated['inception_score_mean'] < 1.1
    assert real['recall'] > 0.5 and repeated['recall'] < 0.05
    assert real['num_samples'] == 300 and real['reference']['num_samples'] == 1497


def test_evaluate_samples_file_via_cli(tmp_path, capsys, cache):
    images = ((digits_classifier.load_split('test')[0] + 1) * 127.5).round().astype(np.uint8)
    path = str(tmp_path / 'real.npz')
    np.savez(path, images=images)
    cli.main(['gans', 'evaluate', f'--samples={path}', '--dataset=digits'])
    result = json.loads(capsys.readouterr().out)
    assert result['num_samples'] == 300 and result['feature_network'] == 'digits' and result['fid'] < 100


def test_points_file_gets_mode_metrics(tmp_path, data_dir):
    from gans.data import MIXTURES
    centers = MIXTURES['ring8'].centers
    points = np.repeat(centers[:3], 100, axis=0)  # all mass on 3 of the 8 modes
    path = str(tmp_path / 'points.npz')
    np.savez(path, points=points)
    result = evaluate.evaluate_samples_file(path, 'ring8')
    assert result['modes_covered'] == 3 and result['high_quality_fraction'] == 1.0


def test_bad_samples_file_is_named(tmp_path, cache):
    path = str(tmp_path / 'bad.npz')
    np.savez(path, pictures=np.zeros((2, 32, 32, 1), np.uint8))
    with pytest.raises(ValueError, match='neither `images` nor `points`'):
        evaluate.evaluate_samples_file(path, 'digits')


def test_workdir_evaluation_appends_to_metrics_log(tmp_path, cache, capsys):
    workdir = str(tmp_path / 'run')
    cli.main(['gans', 'train', '--config=experiments/configs/dcgan_digits.py:tiny', f'--workdir={workdir}',
              '--config.eval_every=4', '--config.eval_num_samples=200'])
    logged = [json.loads(line) for line in open(os.path.join(workdir, 'metrics.jsonl'))]
    assert any('eval/fid' in line and line['step'] == 4 for line in logged)
    cli.main(['gans', 'evaluate', f'--workdir={workdir}', '--num=300'])
    result = json.loads(capsys.readouterr().out)
    assert result['step'] == 4 and result['num_samples'] == 300 and np.isfinite(result['fid'])
