"""Translating examples with a run of an image-to-image game, and scoring the translations.

For a game whose generator maps an example to an image (`game.input_source == 'data'`), in one
of the game's `directions` (pix2pix's one, G(source); CycleGAN's a2b and b2a; the first is the
default):

- `translate_split` / `translate_images`: the outputs for a split of the run's dataset or for a
  user's own images, as uint8 NHWC arrays; `write_translations` saves them as the `gans
  translate` file: `inputs`, `outputs`, and for a dataset split `targets` (paired sets) and
  `labels` (when the set has them), with a PNG of the first rows beside it.
- `translation_metrics`: over a split (the test split by default). Paired directions, against
  the targets: mean L1 (in the [-1, 1] units G trains in), PSNR and SSIM
  (`gans.metrics.image_quality`), the Frechet distance of the outputs' features to the targets'
  (the dataset's feature network), and class preservation, the share of outputs the feature
  network classifies as their example's label. Unpaired directions, against the other domain's
  images: FD, the share classified as the other domain's class, cycle-reconstruction L1.
  `translation_report` gives every direction's.

Outputs are drawn with the generator's EMA parameters and a fixed key per batch (from `seed`),
so pix2pix's test-time dropout gives the same file for the same seed.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import jax
import ml_collections
import numpy as np

from gans.engine.state import GANState
from gans.games.base import Direction, Game
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


def resolve_direction(game: Game, direction: str | None) -> str:
    """`direction`, checked against the game's, or the game's first (its default) when None."""
    check_translation_game(game)
    names = list(game.directions)
    if direction is None:
        return names[0]
    if direction not in game.directions:
        raise ValueError(f'{type(game).__name__} has no direction {direction!r}; its directions: {", ".join(names)}')
    return direction


def _part(batch: dict, way: Direction, role: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(images, labels or None) of the batch's inputs (`role` 'source') or references ('reference'):
    for domains that are classes of one set, only the rows of that class."""
    key, cls = (way.source, way.source_class) if role == 'source' else (way.reference, way.reference_class)
    images = np.asarray(batch[key])
    labels = np.asarray(batch[way.label]) if way.label in batch else None
    if cls is not None and labels is not None:
        keep = labels == cls
        images, labels = images[keep], labels[keep]
    return images, labels


def _translate(state: GANState, game: Game, direction: str, images: np.ndarray, key: jax.Array) -> np.ndarray:
    outputs = sampling.generate(state, game.translation_inputs(direction, images, key), key=key)
    return game.translation_outputs(direction, outputs)


def translate_batches(state: GANState, game: Game, batches, *, direction: str | None = None,
                      seed: int = 0) -> Iterator[tuple[dict, np.ndarray]]:
    """(batch, outputs in [-1, 1]) for each batch: its inputs (`_part(batch, way, 'source')`)
    translated in `direction` (default the game's first), batch i with key fold_in(key(seed), i)."""
    direction = resolve_direction(game, direction)
    way = game.directions[direction]
    key = jax.random.key(seed)
    for index, batch in enumerate(batches):
        # The whole batch goes through G, one shape for every batch (one compilation); then its rows.
        outputs = _translate(state, game, direction, np.asarray(batch[way.source]), jax.random.fold_in(key, index))
        if way.source_class is not None and way.label in batch:
            outputs = outputs[np.asarray(batch[way.label]) == way.source_class]
        yield batch, outputs


def _cycled(state: GANState, game: Game, direction: str, outputs: np.ndarray, index: int, seed: int) -> np.ndarray:
    """The outputs translated back by the direction's inverse (CycleGAN's F(G(a)))."""
    inverse = game.directions[direction].inverse
    return _translate(state, game, inverse, outputs, jax.random.fold_in(jax.random.key(seed + 1), index))


def translate_split(state: GANState, game: Game, config: ml_collections.ConfigDict, *, split: str = 'test',
                    num: int | None = None, seed: int = 0, direction: str | None = None) -> dict[str, np.ndarray]:
    """The first `num` examples of `split` (all when None) and their translations, uint8 NHWC; with
    the paired targets (`targets`) or, for a direction with an inverse, the outputs translated
    back (`reconstructions`)."""
    direction = resolve_direction(game, direction)
    way = game.directions[direction]
    arrays: dict[str, list[np.ndarray]] = {}
    remaining = num
    batches = translate_batches(state, game, split_batches(config, split), direction=direction, seed=seed)
    for index, (batch, outputs) in enumerate(batches):
        take = len(outputs) if remaining is None else min(remaining, len(outputs))
        entries = {'inputs': _part(batch, way, 'source')[0], 'outputs': outputs}
        if way.paired:
            entries['targets'] = batch[way.reference]
        if way.inverse is not None:
            entries['reconstructions'] = _cycled(state, game, direction, outputs[:take], index, seed)
        for name, images in entries.items():
            arrays.setdefault(name, []).append(sampling.to_uint8(images[:take]))
        if way.paired and way.label in batch:
            arrays.setdefault('labels', []).append(np.asarray(batch[way.label][:take], np.int32))
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


def translate_images(state: GANState, game: Game, images: np.ndarray, *, seed: int = 0,
                     direction: str | None = None) -> dict[str, np.ndarray]:
    """A user's own inputs (uint8 NHWC) and their translations, uint8 NHWC."""
    direction = resolve_direction(game, direction)
    floats = images.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
    source = game.directions[direction].source
    batches = ({source: floats[i:i + MAX_BATCH]} for i in range(0, len(floats), MAX_BATCH))
    outputs = [sampling.to_uint8(out) for _, out in translate_batches(state, game, batches, direction=direction,
                                                                       seed=seed)]
    return {'inputs': images, 'outputs': np.concatenate(outputs)}


def write_translations(arrays: dict[str, np.ndarray], out: str) -> tuple[str, str]:
    """Writes the .npz to `out` and a PNG of its first columns beside it, a row per image array:
    inputs | outputs | targets or reconstructions."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **arrays)
    rows = [arrays[name][:PREVIEW_COLUMNS] for name in ('inputs', 'outputs', 'targets', 'reconstructions')
            if name in arrays]
    channels = max(r.shape[-1] for r in rows)
    rows = [np.repeat(r, channels, -1) if r.shape[-1] < channels else r for r in rows]
    png = os.path.splitext(out)[0] + '.png'
    sampling.save_png(sampling.image_grid(np.concatenate(rows), len(rows[0])), png)
    return out, png


def translation_metrics(state: GANState, game: Game, config: ml_collections.ConfigDict, *, split: str = 'test',
                        network: str | None = None, seed: int = 0, direction: str | None = None) -> dict:
    """One direction's scores over `split` (test by default), in the [-1, 1] units G trains in.

    Paired (pix2pix), against each example's target: `l1`, `psnr`, `ssim`; `fd` of the outputs'
    features to the targets'; `class_preservation`, the share of outputs classified as their
    example's label, beside `target_class_accuracy`, the feature network's accuracy on the real
    targets (its ceiling).

    Unpaired (CycleGAN), against the reference domain's images of the split: `fd` of the outputs to
    them beside `fd_inputs`, the FD between the two real domains (what translation should close);
    `target_class_share`, the share of outputs classified as one of the reference domain's classes,
    beside the same share of the untranslated inputs and the network's accuracy on the real
    references; `cycle_l1` = E|inverse(direction(x)) - x| when the direction has an inverse.
    """
    direction = resolve_direction(game, direction)
    way = game.directions[direction]
    net = load_feature_network(network or default_feature_network(config.dataset))
    quality = image_quality.QualityMeans()
    stats = {name: streaming.GaussianAccumulator() for name in ('outputs', 'references', 'inputs')}
    predicted, predicted_inputs, reference_classes = [], [], set()
    counts = dict.fromkeys(('preserved', 'references_correct', 'labelled', 'cycled'), 0)
    cycle_sum = 0.0
    batches = translate_batches(state, game, split_batches(config, split), direction=direction, seed=seed)
    for index, (batch, outputs) in enumerate(batches):
        references, labels = _part(batch, way, 'reference')
        fake, real = net.embed(outputs), net.embed(references)
        stats['outputs'].update(fake['features'])
        stats['references'].update(real['features'])
        if labels is not None:
            counts['references_correct'] += int(np.sum(real['probs'].argmax(-1) == labels))
            counts['labelled'] += len(labels)
        if way.paired:
            quality.update(jax.device_get(image_quality.image_quality(outputs, references, _RANGE)))
            if labels is not None:
                counts['preserved'] += int(np.sum(fake['probs'].argmax(-1) == labels))
            continue
        inputs = _part(batch, way, 'source')[0]
        source = net.embed(inputs)
        stats['inputs'].update(source['features'])
        if labels is not None:
            reference_classes.update(np.unique(labels).tolist())
            predicted.append(fake['probs'].argmax(-1))
            predicted_inputs.append(source['probs'].argmax(-1))
        if way.inverse is not None:
            back = _cycled(state, game, direction, outputs, index, seed)
            cycle_sum += float(np.abs(back - inputs).mean()) * len(inputs)
            counts['cycled'] += len(inputs)
    result = {'direction': direction, 'split': split, 'num_examples': stats['outputs'].num_samples,
              'feature_network': net.name, 'seed': seed, 'dataset': config.dataset,
              'fd': frechet.fid(stats['references'].stats(), stats['outputs'].stats()).fid}
    if counts['labelled']:
        result['target_class_accuracy'] = counts['references_correct'] / counts['labelled']
    if way.paired:
        means = quality.result()
        result.update({name: means[name] for name in ('l1', 'psnr', 'ssim')})
        result['psnr_identical_images'] = means['num_identical']
        if counts['labelled']:
            result['class_preservation'] = counts['preserved'] / counts['labelled']
        return result
    result['fd_inputs'] = frechet.fid(stats['references'].stats(), stats['inputs'].stats()).fid
    if predicted:
        classes = np.array(sorted(reference_classes))
        result['target_classes'] = classes.tolist()
        result['target_class_share'] = float(np.isin(np.concatenate(predicted), classes).mean())
        result['target_class_share_inputs'] = float(np.isin(np.concatenate(predicted_inputs), classes).mean())
    if counts['cycled']:
        result['cycle_l1'] = cycle_sum / counts['cycled']
    return result


def translation_report(state: GANState, game: Game, config: ml_collections.ConfigDict, **kwargs) -> dict:
    """`translation_metrics` of a one-direction game; of a game with several, {direction: metrics}."""
    check_translation_game(game)
    if len(game.directions) == 1:
        return translation_metrics(state, game, config, **kwargs)
    return {name: translation_metrics(state, game, config, direction=name, **kwargs) for name in game.directions}
