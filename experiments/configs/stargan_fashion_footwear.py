"""StarGAN (Choi et al. 2018) on fashion_footwear: sandals, sneakers and ankle boots as three
domains of one generator, real Fashion-MNIST images at 32 px.

G is a ResNet generator (instance norm, 6 residual blocks, width 32: 32-64-128 channels) taking
the target domain's one-hot code tiled onto the image; D has 4 stride-2 layers (a 2x2 map, as the
paper's 6 at 128 px) with an adversarial patch head and a 3-way domain head. WGAN-GP (lambda 10),
lambda_cls 1, lambda_rec 10, 5 D steps per G step, Adam(1e-4, b1 0.5, b2 0.999), constant for the
first half of the run, then linearly to 0: the paper's. Batch 16 per D step.

    gans train --config stargan_fashion_footwear --workdir runs/stargan
    gans translate --workdir runs/stargan --direction sandal2boot --out sandal2boot.npz
    gans evaluate --workdir runs/stargan        # every ordered pair of domains, test split
"""
import ml_collections

from common import translation_training
from gans.config import base_config, select_variant


def get_config(variant: str = '') -> ml_collections.ConfigDict:
    config = translation_training(base_config('stargan', 'stargan'))
    config.dataset = 'fashion_footwear'
    config.num_steps = 3000  # G updates; 15,000 D updates
    config.stargan.domains = (5, 7, 9)  # Fashion-MNIST's Sandal, Sneaker, Ankle boot
    config.stargan.domain_names = ('sandal', 'sneaker', 'boot')
    config.generator.num_blocks = 6
    config.discriminator.num_layers = 4
    config.optim.d_steps = 5
    config.optim.g_lr = config.optim.d_lr = 1e-4
    config.optim.b1, config.optim.b2 = 0.5, 0.999
    return select_variant(config, variant, 'stargan_fashion_footwear', image_size=16)
