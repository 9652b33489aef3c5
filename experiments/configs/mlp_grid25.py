"""PacGAN4 on the 5x5 Gaussian grid (std 0.05, spacing 2): the grid bar's configuration.

The ring's MLP GAN (mlp_ring8.py: G and D with two hidden layers of 128, latent 16, Adam(1e-3))
with packing m = 4, an EMA of G (0.999) and the learning rates decaying to 1% along a cosine.
The decay is what buys precision: at a constant rate, 20,000 steps left 4-31% of the samples
within 3 std of a mode; decayed over 200,000 steps, 10 seeds reach 24.9 +- 0.3 of the 25 modes
with 95.7 +- 1.4% high-quality samples (experiments/results/sweep/grid25_200k_cosine/, the same
settings through the sweep; 20 minutes for all 10 seeds in one program on the 2-core VM).

    gans train --config experiments/configs/mlp_grid25.py --workdir runs/grid25

PacGAN's own 2-D networks (G 4x400 ReLU with batch norm and a 2-D latent, D 3x200 maxout with
5 pieces; the paper trains them 400,000 steps at Adam(1e-4, b1 = 0.8)) are these overrides:
    --config.latent_dim=2 --config.g_hidden='(400,400,400,400)' --config.g_batch_norm=True
    --config.d_hidden='(200,200,200)' --config.d_maxout=5 --config.batch_size=400
"""
import ml_collections

from common import MIXTURE_TINY, mixture_mlp
from gans.config import select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = mixture_mlp('grid25')
    config.gan.loss = 'nonsaturating'
    config.num_steps = 200_000
    config.batch_size = 256  # 64 packs of 4
    config.discriminator.pack = 4
    config.sample_every = 10_000
    config.checkpoint_every = 20_000
    config.log_every = 1000
    config.grid_size = 50
    config.optim.lr_schedule = 'cosine'
    config.optim.ema_decay = 0.999
    return select_variant(config, variant, 'mlp_grid25', **MIXTURE_TINY)
