"""The pix2pix step benchmark runs end to end on tiny sizes and reports what it promises (no timing bars)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # experiments/ is not an installed package
    sys.path.insert(0, ROOT)
from experiments.bench import pix2pix_step  # noqa: E402


def test_pix2pix_step_reports_images_per_second_and_the_same_forward(capsys):
    # 16 px needs the 16x16-patch PatchGAN (num_layers 1): the 70x70 one needs at least 24 px.
    report = pix2pix_step.main(['--image-size', '16', '--width', '4', '--batch', '2', '--num-layers', '1',
                                '--repeats', '1', '--steps-per-repeat', '1', '--warmup', '0'])
    assert report['config']['image_size'] == 16 and report['config']['batch'] == 2
    assert report['config']['generator']['width'] == 4 and report['config']['discriminator']['num_layers'] == 1
    assert report['jax']['img_per_s'] > 0
    assert report['jax']['xla_flops_per_step'] > 0 and report['jax']['compile_s'] > 0
    assert report['jax']['cpu_convolutions'] == 'eigen' and report['jax']['conv_layers'] == 'canonical'
    assert report['jax_hlo_op_counts']['convolution'] > 0
    assert capsys.readouterr().out.lstrip().startswith('{')  # the JSON report is printed too
    if 'torch_note' not in report:  # the optional bench extra: both sides computed the same networks
        diffs = report['torch_same_forward_max_abs_diff']
        assert diffs.pop('dropout_layers_compared') == 3  # up2, up1, up0 of the 16 px U-Net
        assert max(diffs.values()) < 1e-4, diffs
        assert report['torch']['img_per_s'] > 0
        assert report['jax_over_torch'] > 0

