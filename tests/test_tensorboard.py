"""What TensorBoard shows of a run: the sample grids as images (the PNGs' pixels), the config as
text, the losses as scalars. Event files are read here record by record, without TensorFlow."""
from __future__ import annotations

import glob
import io
import json
import os
import struct

import numpy as np
from PIL import Image
from tensorboardX.proto import event_pb2
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

from gans import cli

RING = 'experiments/configs/mlp_ring8.py:tiny'


def _events(directory: str):
    """Every Event of the TFRecord files in `directory`: [length u64][crc u32][data][crc u32]."""
    for path in sorted(glob.glob(os.path.join(directory, 'events.out.tfevents.*'))):
        with open(path, 'rb') as f:
            while header := f.read(12):
                length, = struct.unpack('<Q', header[:8])
                event = event_pb2.Event()
                event.ParseFromString(f.read(length))
                f.read(4)
                yield event


def test_sample_grids_config_hparams_and_losses_reach_tensorboard(tmp_path, data_dir):
    workdir = str(tmp_path / 'run')
    cli.main(['gans', 'train', f'--config={RING}', f'--workdir={workdir}', '--config.num_devices=1'])
    images, texts, scalars = {}, {}, set()
    hparams, experiment = HParamsPluginData(), HParamsPluginData()
    for event in _events(os.path.join(workdir, 'tensorboard')):
        for value in event.summary.value:
            if value.HasField('image'):
                images[event.step] = np.asarray(Image.open(io.BytesIO(value.image.encoded_image_string)))
            elif value.metadata.plugin_data.plugin_name == 'text':
                texts[value.tag] = value.tensor.string_val[0].decode()
            elif value.tag == '_hparams_/session_start_info':
                hparams.ParseFromString(value.metadata.plugin_data.content)
            elif value.tag == '_hparams_/experiment':
                experiment.ParseFromString(value.metadata.plugin_data.content)
            elif value.HasField('simple_value'):
                scalars.add((event.step, value.tag))
    assert sorted(images) == [2, 4]  # sample_every 2 of the tiny variant
    for step, image in images.items():
        png = np.asarray(Image.open(os.path.join(workdir, 'samples', f'{step:07d}.png')))
        if png.ndim == 2:  # a grayscale grid: TensorBoard stores it as three equal channels
            png = np.repeat(png[..., None], image.shape[-1], axis=-1)
        np.testing.assert_array_equal(image, png)
    config = json.loads(texts['config/text_summary'])
    assert config['dataset'] == 'ring8' and config['num_steps'] == 4
    # The same config as hparams, nested fields dotted, for the HParams tab's table.
    values = hparams.session_start_info.hparams
    assert values['dataset'].string_value == 'ring8' and values['gan.loss'].string_value == 'nonsaturating'
    assert values['batch_size'].number_value == config['batch_size'] and values['optim.g_lr'].number_value > 0
    assert {m.name.tag for m in experiment.experiment.metric_infos} >= {'d_loss', 'g_loss'}
    assert {(s, name) for s in (1, 2, 3, 4) for name in ('d_loss', 'g_loss')} <= scalars


def test_plot_writes_the_curves_of_metrics_jsonl(tmp_path, capsys):
    workdir = tmp_path / 'run'
    workdir.mkdir()
    lines = [{'step': s, 'd_loss': 1.0 / s, 'g_loss': float(s), 'fid': 10.0 - s, 'steps_per_s': 3.0} for s in (1, 2, 3)]
    (workdir / 'metrics.jsonl').write_text(''.join(json.dumps(line) + '\n' for line in lines) + '{"step": 4, "d_lo')
    out = str(tmp_path / 'curves.png')
    cli.main(['gans', 'plot', f'--workdir={workdir}', f'--out={out}'])
    assert 'd_loss, fid, g_loss' in capsys.readouterr().out  # the rate and the torn last line are left out
    image = np.asarray(Image.open(out))
    assert image.shape[1] == 900 and image.std() > 0  # two panels: the losses, the FID
