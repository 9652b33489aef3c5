"""Collectors of gans.metrics.streaming (the Gaussian accumulator is tested with FID)."""

import numpy as np
import pytest

from gans.metrics import streaming


def test_feature_collector_keeps_the_first_rows_in_order_up_to_the_cap():
    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    collector = streaming.FeatureCollector(max_samples=7)
    for lo, hi in [(0, 2), (2, 5), (5, 10)]:
        collector.update(rows[lo:hi])
    assert collector.full and collector.num_samples == 7
    np.testing.assert_array_equal(collector.result(), rows[:7])


def test_feature_collector_below_the_cap_returns_what_it_got():
    collector = streaming.FeatureCollector(max_samples=100).update(np.ones((3, 2)))
    assert not collector.full
    assert collector.result().shape == (3, 2)


def test_collectors_reject_bad_batches():
    with pytest.raises(ValueError, match='dim changed'):
        streaming.FeatureCollector(10).update(np.zeros((2, 3))).update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match='2-D'):
        streaming.FeatureCollector(10).update(np.zeros(3))
    with pytest.raises(ValueError, match='nothing collected'):
        streaming.FeatureCollector(10).result()
    with pytest.raises(ValueError, match='summing to 1'):
        streaming.ProbabilityCollector(10).update(np.array([[0.5, 0.6]]))
    probs = streaming.ProbabilityCollector(10).update(np.array([[0.25, 0.75]])).result()
    np.testing.assert_array_equal(probs, [[0.25, 0.75]])
