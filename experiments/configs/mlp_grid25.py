"""PacGAN's 2-D experiment networks (Lin et al. 2018, after VEEGAN) on the 5x5 Gaussian grid.

G: 2-D Gaussian latent, four hidden layers of 400 ReLU units with batch norm, linear output.
D: three hidden layers of 200 maxout units with 5 pieces, packing m = 4 (`pack`).
The paper trains Adam(1e-4, b1 = 0.8) for 400 epochs of 100,000 points at 100 packs per batch
(400,000 steps); on this repository's 2-core CPU the budget is far smaller, so the rates are
higher and decay (cosine, to 1% of the peak) and G's parameters are averaged (EMA 0.999).

    gans train --config experiments/configs/mlp_grid25.py --workdir runs/grid25
    python -m experiments.ablations.sweep ...   # many seeds: experiments/ablations/README.md
"""
import ml_collections

from gans.config import base_config


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = base_config()
    config.model = 'mlp'
    config.dataset = 'grid25'
    config.loss = 'nonsaturating'
    config.num_steps = 20000
    config.batch_size = 400  # 100 packs of 4
    config.pack = 4
    config.sample_every = 2000
    config.checkpoint_every = 5000
    config.log_every = 500

    config.latent_dim = 2
    config.hidden = (400, 400, 400, 400)
    config.g_hidden = (400, 400, 400, 400)
    config.d_hidden = (200, 200, 200)
    config.g_batch_norm = True
    config.d_maxout = 5
    config.grid_size = 50
    config.optim.g_lr = 1e-3
    config.optim.d_lr = 1e-3
    config.optim.b1 = 0.8
    config.optim.lr_schedule = 'cosine'
    config.optim.ema_decay = 0.999

    if variant == 'tiny':
        config.update(batch_size=32, g_hidden=(16, 16), d_hidden=(16,), hidden=(16,), num_steps=4,
                      checkpoint_every=2, sample_every=2, log_every=1, grid_size=8)
    elif variant:
        raise ValueError(f'unknown variant {variant!r} of mlp_grid25; known: tiny')
    return config
