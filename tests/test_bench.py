"""The benchmark scripts run end to end on tiny sizes and report what they promise (no timing bars)."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # experiments/ is not an installed package
    sys.path.insert(0, ROOT)
from experiments.bench import cpu_convolutions, dcgan_step  # noqa: E402


def test_dcgan_step_times_both_convolution_libraries(monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', ['dcgan_step.py', '--image-size', '16', '--width', '8', '--batch', '4',
                                      '--repeats', '1', '--steps-per-repeat', '1', '--warmup', '0',
                                      '--cpu-convolutions', 'eigen,xla_default'])
    dcgan_step.main()
    report = json.loads(capsys.readouterr().out)
    assert report['config']['cpu_convolutions'] == ['eigen', 'xla_default']
    for name in ('jax', 'jax_xla_default'):
        assert report[name]['img_per_s'] > 0
        assert report[name]['xla_flops_per_step'] > 0
    if 'torch' in report:  # the optional bench extra: both sides computed the same networks
        assert max(report['torch_same_forward_max_abs_diff'].values()) < 1e-3
        assert report['jax_over_torch'] > 0


def test_cpu_convolutions_times_a_config_on_both_libraries(data_dir):
    result = cpu_convolutions.time_config('mlp_ring8', repeats=1, steps=1)
    assert result['eigen_ms'] > 0 and result['xla_default_ms'] > 0
    assert result['eigen_speedup'] == pytest.approx(result['xla_default_ms'] / result['eigen_ms'], rel=0.01)
