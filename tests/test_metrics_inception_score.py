"""Inception Score (gans.metrics.inception_score) against its closed-form extremes and an
entropy-form numpy reference."""

import numpy as np
import pytest

from gans.metrics import inception_score as inception


def test_uniform_predictions_score_one():
    result = inception.inception_score(np.full((40, 7), 1 / 7), splits=4)
    assert result.mean == pytest.approx(1.0, abs=1e-5)
    assert result.std == pytest.approx(0.0, abs=1e-5)


def test_confident_predictions_spread_evenly_over_c_classes_score_c():
    classes = 5
    # Cyclic labels: each of the 10 parts of 10 rows holds every class twice.
    probs = np.eye(classes)[np.arange(100) % classes]
    result = inception.inception_score(probs, splits=10)
    assert result.mean == pytest.approx(classes, rel=1e-5)
    assert (result.splits, result.num_samples) == (10, 100)


def test_all_samples_confidently_one_class_score_one():
    probs = np.zeros((30, 4))
    probs[:, 2] = 1.0
    assert inception.inception_score(probs, splits=3).mean == pytest.approx(1.0, abs=1e-6)


def test_matches_entropy_form_on_uneven_splits():
    # exp(E KL(p(y|x) || p(y))) = exp(H(p(y)) - E H(p(y|x))).
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(6, 0.3), size=103)
    entropy = lambda p: -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    scores = []
    for i in range(4):
        part = probs[i * 103 // 4:(i + 1) * 103 // 4]
        scores.append(np.exp(entropy(part.mean(0)) - entropy(part).mean()))
    result = inception.inception_score(probs, splits=4)
    assert result.mean == pytest.approx(np.mean(scores), rel=1e-4)
    assert result.std == pytest.approx(np.std(scores), rel=1e-2, abs=1e-5)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match='summing to 1'):
        inception.inception_score(np.ones((10, 3)), splits=2)
    with pytest.raises(ValueError, match='splits'):
        inception.inception_score(np.full((5, 2), 0.5), splits=10)
    with pytest.raises(ValueError, match='2-D'):
        inception.inception_score(np.full(6, 0.5), splits=1)
