"""The MLP GAN of Goodfellow et al. (2014) on 8 Gaussians on a ring (the mode-collapse testbed).

    gans train --config experiments/configs/mlp_ring8.py --workdir runs/ring8
    --config.dataset=grid25 switches to the 5x5 grid.
"""
import ml_collections

from common import MIXTURE_TINY, mixture_mlp
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = mixture_mlp('ring8')
    config.gan.loss = 'nonsaturating'
    return select_variant(config, variant, 'mlp_ring8', **MIXTURE_TINY)
