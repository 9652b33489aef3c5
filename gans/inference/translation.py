"""Translating examples with a run of an image-to-image game, and scoring the translations.

For a game whose generator maps an example to an image (`game.input_source == 'data'`, e.g.
pix2pix's G(source)):

- `translate_split` / `translate_images`: the outputs for a split of the run's dataset or for a
  user's own images, as uint8 NHWC arrays; `write_translations` saves them as the `gans
  translate` file: `inputs`, `outputs`, and for a dataset split `targets` (paired sets) and
  `labels` (when the set has them), with a PNG of the first rows beside it.
- `translation_metrics`: over a split (the test split by default), against the targets: mean L1
  (in the [-1, 1] units G trains in), PSNR and SSIM (`gans.metrics.image_quality`), the Frechet
  distance of the outputs' features to the targets' (the dataset's feature network), and class
  preservation, the share of outputs the feature network classifies as their example's label.

Outputs are drawn with the generator's EMA parameters and a fixed key per batch (from `seed`),
so pix2pix's test-time dropout gives the same file for the same seed.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from gans import data
from gans.engine.state import GANState
from gans.games.base import Game
from gans.inference import sampling
from gans.inference.runs import read_npz, split_batches
from gans.metrics import frechet, image_quality, streaming
from gans.metrics.feature_networks import default_feature_network, load_feature_network

MAX_BATCH = 500  # user inputs are translated in batches of at most this many
PREVIEW_COLUMNS = 8
_RANGE = (-1.0, 1.0)


def check_translation_game(game: Game) -> None:
    if game.input_source != 'data':
        raise ValueError(f'{type(game).__name__} samples from a prior rather than translating examples: use '
                         f'`gans sample` and `gans evaluate` for it')
    if game.source_key is None:
        raise ValueError(f'{type(game).__name__} translates in two directions; `gans translate` and `gans evaluate` '
                         'score one-direction (paired) translation only, so far: its sample grids show both')


def _translate(state: GANState, game: Game, batch: dict, key: jax.Array) -> np.ndarray:
    return sampling.generate(state, game.generator_inputs(batch, key), key=key)


def translate_batches(state: GANState, game: Game, batches, *, seed: int = 0) -> Iterator[tuple[dict, np.ndarray]]:
    """(batch, outputs in [-1, 1]) for each batch, batch i translated with key fold_in(key(seed), i)."""
    check_translation_game(game)
    key = jax.random.key(seed)
    for index, batch in enumerate(batches):
        yield batch, _translate(state, game, batch, jax.random.fold_in(key, index))


def translate_split(state: GANState, game: Game, config: ml_collections.ConfigDict, *, split: str = 'test',
                    num: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """The first `num` examples of `split` (all when None) and their translations, uint8 NHWC."""
    arrays: dict[str, list[np.ndarray]] = {}
    remaining = num
    for batch, outputs in translate_batches(state, game, split_batches(config, split), seed=seed):
        take = len(outputs) if remaining is None else min(remaining, len(outputs))
        entries = {'inputs': batch[game.source_key], 'outputs': outputs}
        if game.target_key in batch:
            entries['targets'] = batch[game.target_key]
        for name, images in entries.items():
            arrays.setdefault(name, []).append(sampling.to_uint8(images[:take]))
        if 'label' in batch:
            arrays.setdefault('labels', []).append(np.asarray(batch['label'][:take], np.int32))
        if remaining is not None:
            remaining -= take
            if remaining <= 0:
                break
    return {name: np.concatenate(parts) for name, parts in arrays.items()}


def read_images(path: str, shape: tuple[int, ...]) -> np.ndarray:
    """`images` (uint8 NHWC of per-example `shape`) from a user's .npz, with errors that say what is wrong."""
    arrays = read_npz(path, 'an .npz with `images`, uint8 NHWC')
    if 'images' not in arrays:
        raise ValueError(f'{path} holds no `images` array (keys: {sorted(arrays)})')
    images = arrays['images']
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f'`images` in {path} must be uint8 [N, {", ".join(map(str, shape))}] like the run\'s '
                         f'inputs, got {images.dtype} {tuple(images.shape)}')
    return images


def translate_images(state: GANState, game: Game, images: np.ndarray, *, seed: int = 0) -> dict[str, np.ndarray]:
    """A user's own inputs (uint8 NHWC) and their translations, uint8 NHWC."""
    floats = images.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
    batches = ({game.source_key: floats[i:i + MAX_BATCH]} for i in range(0, len(floats), MAX_BATCH))
    outputs = [sampling.to_uint8(out) for _, out in translate_batches(state, game, batches, seed=seed)]
    return {'inputs': images, 'outputs': np.concatenate(outputs)}


def write_translations(arrays: dict[str, np.ndarray], out: str) -> tuple[str, str]:
    """Writes the .npz to `out` and a PNG of the first rows (inputs | outputs | targets) beside it."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **arrays)
    rows = [arrays[name][:PREVIEW_COLUMNS] for name in ('inputs', 'outputs', 'targets') if name in arrays]
    channels = max(r.shape[-1] for r in rows)
    rows = [np.repeat(r, channels, -1) if r.shape[-1] < channels else r for r in rows]
    png = os.path.splitext(out)[0] + '.png'
    sampling.save_png(sampling.image_grid(np.concatenate(rows), len(rows[0])), png)
    return out, png


def translation_metrics(state: GANState, game: Game, config: ml_collections.ConfigDict, *, split: str = 'test',
                        network: str | None = None, seed: int = 0) -> dict:
    """L1, PSNR, SSIM, FD and class preservation of the translations of `split` against its targets."""
    check_translation_game(game)
    net = load_feature_network(network or default_feature_network(config.dataset))
    quality = image_quality.QualityMeans()
    fake_stats, real_stats = streaming.GaussianAccumulator(), streaming.GaussianAccumulator()
    preserved = real_correct = labelled = 0
    for batch, outputs in translate_batches(state, game, split_batches(config, split), seed=seed):
        targets = batch.get(game.target_key)
        fake = net.embed(outputs)
        fake_stats.update(fake['features'])
        if targets is not None:
            quality.update(jax.device_get(image_quality.image_quality(outputs, np.asarray(targets), _RANGE)))
            real = net.embed(targets)
            real_stats.update(real['features'])
        if 'label' in batch:
            labels = np.asarray(batch['label'])
            preserved += int(np.sum(fake['probs'].argmax(-1) == labels))
            if targets is not None:
                real_correct += int(np.sum(real['probs'].argmax(-1) == labels))
            labelled += len(labels)
    result = {'split': split, 'num_examples': fake_stats.num_samples, 'feature_network': net.name, 'seed': seed,
              'dataset': config.dataset}
    if quality.num_images:
        means = quality.result()
        result.update({name: means[name] for name in ('l1', 'psnr', 'ssim')})
        result['psnr_identical_images'] = means['num_identical']
        result['fd'] = frechet.fid(real_stats.stats(), fake_stats.stats()).fid
    if labelled:
        result['class_preservation'] = preserved / labelled
        if quality.num_images:
            # The feature network's own accuracy on the real targets: the ceiling of class preservation.
            result['target_class_accuracy'] = real_correct / labelled
    return result
