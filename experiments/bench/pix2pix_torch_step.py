"""The PyTorch side of the pix2pix step benchmark (`pix2pix_step.py`): the standard eager
pix2pix step on the twins of `torch_pix2pix.py`, loaded with the JAX side's initial variables,
its same-forward check against the JAX networks, and its pieces for `--components`.
"""
from __future__ import annotations

import argparse
import time

import flax.linen as nn
import jax
import numpy as np

from experiments.bench import timing
from gans.engine.state import stream_keys

LEARNING_RATE, B1, B2 = 2e-4, 0.5, 0.999

def _nchw(x) -> 'torch.Tensor':
    import torch
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def _nhwc(t) -> np.ndarray:
    return t.detach().numpy().transpose(0, 2, 3, 1)


class TorchBench:
    """The standard PyTorch pix2pix step on the twins, from the JAX side's initial variables."""

    def __init__(self, args: argparse.Namespace, jax_bench: 'JaxBench', two_g_forwards: bool = False):
        import torch
        import torch.nn.functional as F

        from experiments.bench import torch_pix2pix  # imports torch: only where it is installed
        self.torch, self.F, self.two_g_forwards = torch, F, two_g_forwards
        self.torch_pix2pix = torch_pix2pix
        g, d = jax_bench.config.generator, jax_bench.config.discriminator
        self.generator = torch_pix2pix.TorchUNetGenerator(
            args.image_size, args.source_channels, args.channels, width=g.width, norm=g.norm, skips=g.skips,
            num_dropout=g.num_dropout, dropout_rate=g.dropout_rate, test_dropout=g.test_dropout)
        self.discriminator = torch_pix2pix.TorchPatchGANDiscriminator(
            args.source_channels + args.channels, num_layers=d.num_layers, width=d.width, norm=d.norm)
        self.variables = jax_bench.initial_variables
        self._load()
        self.g_opt = torch.optim.Adam(self.generator.parameters(), LEARNING_RATE, betas=(B1, B2))
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), LEARNING_RATE, betas=(B1, B2))
        batch = {name: np.asarray(images) for name, images in jax_bench.batch.items()}
        self.source, self.target = _nchw(batch['source']), _nchw(batch['target'])
        game = jax_bench.experiment.game
        self.l1_weight, self.gan_weight, self.d_scale = game.l1_weight, game.gan_weight, game.d_loss_scale

    def _load(self) -> None:
        self.torch_pix2pix.load_flax_variables(self.generator, self.variables['generator'])
        self.torch_pix2pix.load_flax_variables(self.discriminator, self.variables['discriminator'])

    def compare_forward(self, jax_bench: 'JaxBench') -> dict[str, float]:
        """Max |JAX - PyTorch| of G's and D's outputs from the same initial variables and batch:
        in eval mode (running statistics, dropout off) and in train mode (batch statistics; G with
        the JAX side's dropout masks)."""
        torch = self.torch
        g_player, d_player = jax_bench.experiment.state.generator, jax_bench.experiment.state.discriminator
        g_vars, d_vars = self.variables['generator'], self.variables['discriminator']
        source, target = np.asarray(jax_bench.batch['source']), np.asarray(jax_bench.batch['target'])
        diffs = {}
        # Eval mode, dropout off on both sides.
        clean = g_player.network.clone(test_dropout=False)
        jax_fake = np.asarray(jax.jit(lambda v, s: clean.apply(v, s, train=False))(g_vars, source))
        jax_logits = np.asarray(jax.jit(lambda v, s, t: d_player.network.apply(v, s, t, train=False))(
            d_vars, source, target))
        self.generator.eval()
        self.discriminator.eval()
        self.generator.test_dropout = False
        with torch.no_grad():
            diffs['generator_eval'] = float(np.abs(_nhwc(self.generator(self.source)) - jax_fake).max())
            diffs['discriminator_eval'] = float(np.abs(
                self.discriminator(self.source, self.target).numpy() - jax_logits).max())
        self.generator.test_dropout = g_player.network.test_dropout
        # Train mode: batch statistics; G's dropout masks read off the JAX forward.
        rngs = stream_keys(g_player.rng_streams, jax.random.key(5))

        def g_train(v, s):
            return g_player.network.apply(v, s, train=True, rngs=rngs, mutable=['batch_stats', 'intermediates'],
                                          capture_intermediates=lambda module, _: isinstance(module, nn.Dropout))
        jax_fake, g_state = jax.jit(g_train)(g_vars, source)
        masks = {name[:-len('_dropout')]: _nchw(np.asarray(values['__call__'][0]) != 0)
                 for name, values in g_state['intermediates'].items()}
        jax_logits, _ = jax.jit(lambda v, s, t: d_player.network.apply(v, s, t, train=True, mutable=['batch_stats']))(
            d_vars, source, target)
        self.generator.train()
        self.discriminator.train()
        with torch.no_grad():
            diffs['generator_train'] = float(np.abs(
                _nhwc(self.generator(self.source, dropout_masks=masks)) - np.asarray(jax_fake)).max())
            diffs['discriminator_train'] = float(np.abs(
                self.discriminator(self.source, self.target).numpy() - np.asarray(jax_logits)).max())
        diffs['dropout_layers_compared'] = len(masks)
        self._load()  # the train-mode passes moved torch's running statistics: back to the initial ones
        return diffs

    def _bce(self, logits, real: bool):
        target = self.torch.ones_like(logits) if real else self.torch.zeros_like(logits)
        return self.F.binary_cross_entropy_with_logits(logits, target)

    def step(self) -> None:
        torch, F = self.torch, self.F
        generator, discriminator = self.generator, self.discriminator
        source, target = self.source, self.target
        if self.two_g_forwards:  # the engine's schedule: a no-grad G pass for D, a fresh one for G
            with torch.no_grad():
                fake_for_d = generator(source)
        else:  # the reference code: one G forward, detached for D's update
            fake = generator(source)
            fake_for_d = fake.detach()
        # D update: real and fake pairs in separate passes (batch norm never mixes them).
        d_loss = self.d_scale * (self._bce(discriminator(source, target), True) +
                                 self._bce(discriminator(source, fake_for_d), False))
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        # G update through the updated D.
        if self.two_g_forwards:
            fake = generator(source)
        timing.torch_update_through_frozen(
            discriminator, self.g_opt, lambda: self.gan_weight * self._bce(discriminator(source, fake), True)
            + self.l1_weight * F.l1_loss(fake, target))

    def run(self, steps: int) -> float:
        self.generator.train()
        self.discriminator.train()
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - start) / max(steps, 1)


def torch_components(torch_bench: TorchBench) -> dict:
    """The pieces of the step alone (G and D forward, forward+backward, D's input gradient)."""
    torch = torch_bench.torch
    g, d = torch_bench.generator, torch_bench.discriminator
    source, target = torch_bench.source, torch_bench.target
    weights = torch.from_numpy(np.random.default_rng(3).uniform(-1, 1, tuple(target.shape)).astype(np.float32))

    def g_forward():
        with torch.no_grad():
            g(source)

    def g_forward_backward():
        g.zero_grad(set_to_none=True)
        (g(source) * weights).sum().backward()

    def d_forward():
        with torch.no_grad():
            d(source, target)

    def d_forward_backward():
        d.zero_grad(set_to_none=True)
        torch.nn.functional.softplus(-d(source, target)).mean().backward()

    def d_input_grad():
        for p in d.parameters():
            p.requires_grad_(False)
        image = target.clone().requires_grad_(True)
        torch.nn.functional.softplus(-d(source, image)).mean().backward()
        for p in d.parameters():
            p.requires_grad_(True)

    return {'g_forward': g_forward, 'g_forward_backward': g_forward_backward, 'd_forward': d_forward,
            'd_forward_backward': d_forward_backward, 'd_input_grad': d_input_grad}
