"""pix2pix (Isola et al. 2017) on fashion_edges: edge maps of real shoes -> the shoes (edges2shoes).

G is the U-Net (skips between mirrored layers; dropout 0.5 in its first three decoder layers as
the only noise, kept on at test time), D the PatchGAN on (edges, shoe) pairs, G's loss cGAN
(non-saturating BCE) + 100 x L1, D's halved; Adam(2e-4, b1 0.5), constant for the first half of
the run, then linearly to 0, as the paper. At 32 px the U-Net has five down layers to a 1x1
bottleneck (width 32: 32-64-128-256-256 channels) and the PatchGAN one stride-2 layer:
each logit judges a 16x16 patch of the pair, on a 14x14 grid (receptive field r_0 of the layer
stack (4,2),(4,1),(4,1): r = 1 -> 4 -> 7 -> 16 by r_{l-1} = s_l (r_l - 1) + k_l; the paper's
70x70 is the same recurrence with three stride-2 layers, `gans.models.patchgan.receptive_field`).

    gans train --config experiments/configs/pix2pix_fashion_edges.py --workdir runs/pix2pix
    gans translate --workdir runs/pix2pix --split test --out translations.npz
    gans evaluate --workdir runs/pix2pix            # L1, PSNR, SSIM, FD, class preservation (test split)
    --config.pix2pix.gan_weight=0                   # the paper's "L1 only" ablation
    --config.pix2pix.l1_weight=0                    # "cGAN only"
    --config.generator.skips=False                  # the encoder-decoder without skips

Results on this repository's CPU VM: experiments/results/pix2pix_fashion_edges.md.
"""
import ml_collections

from common import translation_training
from gans.config import base_config, select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = translation_training(base_config('pix2pix', 'pix2pix'))
    config.dataset = 'fashion_edges'
    config.num_steps = 5000  # 80,000 pairs, 4.4 epochs of the 18,000
    config.pix2pix.loss = 'nonsaturating'
    config.pix2pix.l1_weight = 100.0
    config.pix2pix.gan_weight = 1.0
    return select_variant(config, variant, 'pix2pix_fashion_edges', image_size=16)
