"""Evaluation protocols: generated samples against a dataset split, every standard metric at once.

Images: features and class probabilities from a feature network (`digits` for digits,
InceptionV3 otherwise) feed FID, KID (cubic-kernel unbiased MMD^2 over subsets), the
Inception Score (with the same network's classifier), improved precision/recall (k=3) and
density/coverage (k=5). 2-D points: modes covered, high-quality fraction and the KL of the
mode histogram from uniform. Every result names its sample count, reference split and seed.

Generated images stream through the network in batches; only features are kept (at most
`max_features` of them for KID and the k-NN metrics; FID uses all through running moments).
Reference statistics are computed once per (dataset, split, image size, network,
preprocessing) and cached as .npz under $GANS_CACHE_DIR (default ~/.cache/gans).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

import jax
import numpy as np

from gans import data
from gans.games.base import Game
from gans.inference import sampling, translation
from gans.inference.runs import load_trained_run, prior_sampler, read_npz
from gans.metrics import frechet, inception_score, kid, manifold, modes, streaming
from gans.metrics.feature_networks import FeatureNetwork, default_feature_network, load_feature_network
from gans.engine.writers import MetricWriter

CACHE_ENV = 'GANS_CACHE_DIR'
REFERENCE_BATCH = 500


@dataclasses.dataclass(frozen=True)
class Reference:
    """A dataset split seen through a feature network."""
    dataset: str
    split: str
    stats: frechet.GaussianStats
    features: np.ndarray  # at most max_features rows, for KID and the k-NN metrics

    @property
    def description(self) -> dict:
        return {'dataset': self.dataset, 'split': self.split, 'num_samples': self.stats.num_samples}


def cache_dir() -> str:
    return os.path.expanduser(os.environ.get(CACHE_ENV) or os.path.join('~', '.cache', 'gans'))


def reference(dataset: str, network: FeatureNetwork, *, split: str = 'train', image_size: int | None = None,
              data_dir: str | None = None, max_features: int = 10_000) -> Reference:
    """Features of `split` (cached on disk after the first call)."""
    size_tag = f'{image_size}px' if image_size else 'native'
    path = os.path.join(cache_dir(), 'reference',
                        f'{dataset}-{split}-{size_tag}-{network.name}-{network.preprocessing}-max{max_features}.npz')
    if os.path.isfile(path):
        with np.load(path) as f:
            stats = frechet.GaussianStats(mean=f['mean'], cov=f['cov'], num_samples=int(f['num_samples']))
            return Reference(dataset, split, stats, f['features'])
    spec = data.dataset_spec(dataset, image_size=image_size, data_dir=data_dir)
    if spec.kind != 'image':
        raise ValueError(f'{dataset} holds {spec.kind}, not images: use mode metrics for 2-D datasets')
    # One batch for small splits, so no example is dropped; larger splits lose < REFERENCE_BATCH
    # examples to drop_remainder batching (recorded in num_samples).
    count = spec.num_examples[split]
    batch_size = count if count <= 4 * REFERENCE_BATCH else REFERENCE_BATCH
    batches = data.make_iterator(dataset, split=split, global_batch_size=batch_size, seed=0, shuffle=False,
                                 num_epochs=1, image_size=image_size, data_dir=data_dir,
                                 process_index=0, process_count=1)
    gaussian, collector = streaming.GaussianAccumulator(), streaming.FeatureCollector(max_features)
    for batch in batches:
        features = network.embed(batch['x'])['features']
        gaussian.update(features)
        collector.update(features)
    result = Reference(dataset, split, gaussian.stats(), collector.result())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path + '.tmp.npz', mean=result.stats.mean, cov=result.stats.cov,
             num_samples=result.stats.num_samples, features=result.features)
    os.replace(path + '.tmp.npz', path)  # a reader never sees half a file
    return result


def image_metrics(batches: Iterable[np.ndarray], ref: Reference, network: FeatureNetwork, *, seed: int = 0,
                  max_features: int = 10_000, kid_subsets: int = 100, kid_subset_size: int = 1000,
                  is_splits: int = 10) -> dict:
    """Every image metric of streamed samples (uint8 or [-1, 1] NHWC batches) against `ref`."""
    gaussian = streaming.GaussianAccumulator()
    features, probs = streaming.FeatureCollector(max_features), streaming.ProbabilityCollector(max_features)
    for images in batches:
        out = network.embed(images)
        gaussian.update(out['features'])
        features.update(out['features'])
        probs.update(out['probs'])
    fake = features.result()
    kid_result = kid.kernel_inception_distance(ref.features, fake, kid_subsets, kid_subset_size, seed)
    score = inception_score.inception_score(probs.result(), is_splits)
    manifold_result = manifold.manifold_metrics(ref.features, fake)
    return {
        'fid': frechet.fid(ref.stats, gaussian.stats()).fid,
        'kid_mean': kid_result.mean, 'kid_std': kid_result.std,
        'inception_score_mean': score.mean, 'inception_score_std': score.std,
        'precision': manifold_result.precision, 'recall': manifold_result.recall,
        'density': manifold_result.density, 'coverage': manifold_result.coverage,
        'num_samples': gaussian.num_samples, 'num_samples_knn_kid': int(fake.shape[0]), 'seed': seed,
        'feature_network': network.name, 'reference': ref.description,
        'protocol': {'kid_subsets': kid_result.num_subsets, 'kid_subset_size': kid_result.subset_size,
                     'is_splits': is_splits, 'k_precision_recall': manifold_result.k_pr,
                     'k_density_coverage': manifold_result.k_dc},
    }


def point_metrics(points: np.ndarray, dataset: str, *, seed: int | None = None) -> dict:
    """Mode metrics of 2-D samples on `ring8` or `grid25`."""
    if dataset not in data.MIXTURES:
        raise ValueError(f'point metrics need a 2-D mixture dataset ({sorted(data.MIXTURES)}), got {dataset!r}')
    result = modes.mixture_mode_metrics(np.asarray(points, np.float32), dataset)
    return {'modes_covered': result.modes_covered, 'num_modes': result.num_modes,
            'high_quality_fraction': result.high_quality_fraction, 'kl_to_uniform': result.kl_to_uniform,
            'min_count': result.min_count, 'num_samples': result.num_samples, 'seed': seed,
            'reference': {'dataset': dataset}}


def evaluate_state(state, config, game: Game, *, num_samples: int = 10_000, seed: int = 0,
                   split: str | None = None, network: str | None = None, direction: str | None = None) -> dict:
    """Scores the run's generator: for a game that samples a prior, `num_samples` samples (EMA
    generator) against `split` (default train) of the config's dataset; for a game that translates
    examples, its translations of `split` (default test) in `direction`, or in each of the game's
    directions when None (`translation.translation_report`; `num_samples` does not apply)."""
    if game.input_source == 'data':
        kwargs = dict(split=split or 'test', network=network, seed=seed)
        if direction is None:
            return translation.translation_report(state, game, config, **kwargs)
        return translation.translation_metrics(state, game, config, direction=direction, **kwargs)
    if direction is not None:
        raise ValueError(f'{type(game).__name__} samples a prior: --direction is for translation runs')
    split = split or 'train'
    sample_latents = prior_sampler(game)
    key = jax.random.key(seed)
    spec = data.config_spec(config)
    if spec.kind == 'points':
        return point_metrics(sampling.sample_outputs(state, sample_latents, key, num_samples), config.dataset,
                             seed=seed)
    net = load_feature_network(network or default_feature_network(config.dataset))
    ref = reference(config.dataset, net, split=split, image_size=config.image_size, data_dir=config.data_dir)
    return image_metrics(sampling.sample_batches(state, sample_latents, key, num_samples), ref, net, seed=seed)


def evaluate_samples_file(path: str, dataset: str, *, split: str = 'train', network: str | None = None,
                          data_dir: str | None = None, seed: int = 0) -> dict:
    """Scores a `gans sample` file (`images` uint8 NHWC, or `points` for 2-D datasets)."""
    arrays = read_npz(path, 'a `gans sample` file: `images` uint8 NHWC or `points`')
    if 'points' in arrays:
        return {**point_metrics(arrays['points'], dataset, seed=seed), 'samples': path}
    if 'images' not in arrays:
        raise ValueError(f'{path} holds neither `images` nor `points` (keys: {sorted(arrays)})')
    images = arrays['images']
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f'`images` in {path} must be uint8 NHWC, got {images.dtype} {images.shape}')
    net = load_feature_network(network or default_feature_network(dataset))
    size = images.shape[1]
    native = data.dataset_spec(dataset, data_dir=data_dir).shape
    ref = reference(dataset, net, split=split, image_size=None if native[0] == size else size, data_dir=data_dir)
    batches = (images[i:i + REFERENCE_BATCH] for i in range(0, len(images), REFERENCE_BATCH))
    return {**image_metrics(batches, ref, net, seed=seed), 'samples': path}


def evaluate_workdir(workdir: str, *, num_samples: int = 10_000, seed: int = 0, split: str | None = None,
                     network: str | None = None, direction: str | None = None) -> dict:
    """Scores the latest checkpoint of a run (`evaluate_state`) and appends the result to its metrics log."""
    state, config, game = load_trained_run(workdir)
    result = {'step': int(state.step), **evaluate_state(state, config, game, num_samples=num_samples, seed=seed,
                                                         split=split, network=network, direction=direction)}
    writer = MetricWriter(workdir)
    writer.write(result['step'], scalar_metrics(result))
    writer.close()
    return result


def scalar_metrics(result: dict, prefix: str = 'eval/') -> dict[str, float]:
    """The numeric entries of a result, named for the metrics log; a nested result's (one per
    translation direction) under its key: `eval/a2b/fd`."""
    scalars = {}
    for k, v in result.items():
        if isinstance(v, dict):
            scalars.update(scalar_metrics(v, f'{prefix}{k}/'))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ('step', 'seed'):
            scalars[prefix + k] = float(v)
    return scalars
