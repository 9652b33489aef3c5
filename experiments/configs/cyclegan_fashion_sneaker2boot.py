"""CycleGAN (Zhu et al. 2017) on fashion_sneaker2boot: unpaired real sneakers <-> ankle boots.

G: sneaker -> boot and F: boot -> sneaker are ResNet generators (reflection padding, instance
norm, 6 residual blocks at 32 px, width 32: 32-64-128 channels), D_A and D_B unconditional
PatchGANs with one stride-2 layer (16x16 patches of a 32 px image, as pix2pix_fashion_edges),
least-squares loss, cycle loss lambda 10 both ways, identity loss 0.5 x lambda, a pool of 50 past
fakes per domain, Adam(2e-4, b1 0.5), constant for the first half of the run, then linearly to 0.
The paper trains with batch 1; 16 here, for the CPU.

    gans train --config cyclegan_fashion_sneaker2boot --workdir runs/cyclegan
    --config.cyclegan.identity_weight=0        # without the identity loss
    --config.cyclegan.pool_size=0              # D sees only the newest fakes
"""
import ml_collections

from common import translation_training
from gans.config import base_config, select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = translation_training(base_config('cyclegan', 'cyclegan'))
    config.dataset = 'fashion_sneaker2boot'
    config.num_steps = 6000  # 96,000 images per domain: 16 epochs of the 6,000
    config.cyclegan.loss = 'lsgan'
    config.cyclegan.cycle_weight = 10.0
    config.cyclegan.identity_weight = 0.5
    config.cyclegan.pool_size = 50
    config.generator.num_blocks = 6
    return select_variant(config, variant, 'cyclegan_fashion_sneaker2boot', image_size=16)
