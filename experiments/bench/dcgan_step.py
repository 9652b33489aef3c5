"""Times one DCGAN train step (D update + G update) in JAX beside PyTorch eager.

The JAX side is the library's own step (`gans.engine.step.make_train_step`, jitted over a
mesh of `--devices` devices, one by default; with several, the batch is split on the `data`
axis and batch norm still normalises over the whole batch), its convolutions on CPU run by
`--cpu-convolutions` (the library's default, Eigen, or XLA's default, YNNPACK). The
PyTorch side is a plain eager re-implementation of the same work: D update on a real batch
and a detached fake batch (separate batch-norm passes), then G update on a fresh latent
batch through the updated D; Adam(2e-4, b1=0.5), non-saturating loss, batch norm in train
mode, same architecture and init. The two run interleaved in one process so that load from
other processes hits both.

    python experiments/bench/dcgan_step.py [--batch 64 --image-size 32 --channels 3]
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python experiments/bench/dcgan_step.py --devices 1,2
    python experiments/bench/dcgan_step.py --cpu-convolutions eigen,xla_default

Prints one JSON object: images/s (median over repeats), compile time, XLA FLOPs per
step, and the jax/torch speed ratio (one per JAX variant: device count x convolution library).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from gans import losses, optim
from gans.engine import sharding
from gans.engine.state import create_state
from gans.engine.step import jit_train_step, make_train_step
from gans.games.gan import AdversarialGame
from gans.models.dcgan import DCGANDiscriminator, DCGANGenerator

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:  # experiments/ is not an installed package: run as a script, find it
    sys.path.insert(0, _ROOT)
from experiments.bench import timing  # noqa: E402

LEARNING_RATE, B1, B2 = 2e-4, 0.5, 0.999


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--image-size', type=int, default=32)
    parser.add_argument('--channels', type=int, default=3)
    parser.add_argument('--width', type=int, default=64)
    parser.add_argument('--latent', type=int, default=100)
    parser.add_argument('--repeats', type=int, default=7, help='timed blocks per framework (median is reported)')
    parser.add_argument('--steps-per-repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps per framework after compilation')
    parser.add_argument('--devices', default='1',
                        help='comma-separated numbers of devices to shard the JAX step over (batch on the data '
                             'axis), each timed beside the others; more than one device on a CPU needs '
                             'XLA_FLAGS=--xla_force_host_platform_device_count=N set before the run')
    parser.add_argument('--cpu-convolutions', default='eigen',
                        help="comma-separated XLA:CPU convolution libraries to time the JAX step with, each "
                             "beside the others: 'eigen' (the library's default) and/or 'xla_default' (YNNPACK)")
    parser.add_argument('--no-torch', action='store_true', help='time the JAX side only')
    parser.add_argument('--torch-threads', type=int, default=0,
                        help='PyTorch intra-op threads (default: the cores this process may use)')
    return parser.parse_args()


# ----------------------------------------------------------------------------- JAX side


class JaxBench:
    def __init__(self, args: argparse.Namespace, num_devices: int, cpu_convolutions: str):
        generator = DCGANGenerator(args.image_size, args.channels, args.width)
        discriminator = DCGANDiscriminator(args.image_size, args.channels, args.width)
        tx = optim.player_optimizer(LEARNING_RATE, B1, B2)
        game = AdversarialGame(objective=losses.get_objective('nonsaturating'), latent_dim=args.latent)
        if jax.device_count() < num_devices:
            raise SystemExit(f'{num_devices} devices asked for but jax sees {jax.device_count()}; run with '
                             f'XLA_FLAGS=--xla_force_host_platform_device_count={num_devices}')
        mesh = sharding.make_mesh(num_devices)
        shape = (args.image_size, args.image_size, args.channels)

        def init(key):  # as gans.engine.experiment.make_init does
            state = create_state(generator, discriminator, tx, tx, key, jnp.zeros((1, args.latent)),
                                 jnp.zeros((1, *shape)))
            return state.replace(game_state=game.init_game_state(state, jax.random.fold_in(key, 7)))

        self.state = sharding.replicate(jax.jit(init)(jax.random.key(0)), mesh)
        images = np.random.default_rng(0).uniform(-1, 1, (args.batch, *shape)).astype(np.float32)
        self.batch = sharding.global_batch({'x': images}, mesh)
        self.key = sharding.replicate(jax.random.key(1), mesh)
        step = jit_train_step(make_train_step(game), mesh, cpu_convolutions)
        start = time.perf_counter()
        self.compiled = step.lower(self.state, self.batch, self.key).compile()
        self.compile_s = time.perf_counter() - start
        cost = self.compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost  # older jax returned a list
        self.flops = float(cost.get('flops', float('nan')))

    def run(self, steps: int) -> float:
        """Seconds per step over `steps` steps, waiting for the last result."""
        start, metrics = time.perf_counter(), None
        for _ in range(steps):
            self.state, metrics = self.compiled(self.state, self.batch, self.key)
        jax.block_until_ready((self.state, metrics))
        return (time.perf_counter() - start) / max(steps, 1)


# --------------------------------------------------------------------------- PyTorch side


def _torch_models(args: argparse.Namespace):
    from torch import nn

    stages = int(math.log2(args.image_size // 4))

    def bn(c):  # momentum 0.1 in PyTorch = Flax momentum 0.9
        return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)

    features = args.width * 2 ** (stages - 1)
    g_layers = [nn.ConvTranspose2d(args.latent, features, 4, 1, 0, bias=False), bn(features), nn.ReLU()]
    for _ in range(1, stages):
        g_layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False), bn(features // 2), nn.ReLU()]
        features //= 2
    g_layers += [nn.ConvTranspose2d(features, args.channels, 4, 2, 1), nn.Tanh()]

    features, in_channels, d_layers = args.width, args.channels, []
    for stage in range(stages):
        d_layers.append(nn.Conv2d(in_channels, features, 4, 2, 1, bias=stage == 0))
        if stage > 0:
            d_layers.append(bn(features))
        d_layers.append(nn.LeakyReLU(0.2))
        in_channels, features = features, features * 2
    d_layers.append(nn.Conv2d(in_channels, 1, 4, 1, 0))

    # Weights are copied from the JAX side's initial state (see _load_flax_params).
    return nn.Sequential(*g_layers), nn.Sequential(*d_layers)


def _layer_names(args: argparse.Namespace) -> tuple[list[str], list[str], list[str], list[str]]:
    """Flax names of the conv and batch-norm layers, in the order the torch Sequentials hold them."""
    stages = int(math.log2(args.image_size // 4))
    g_convs = ['project', *(f'up{i}' for i in range(1, stages)), 'to_image']
    d_convs = [*(f'down{i}' for i in range(stages)), 'to_logit']
    return g_convs, [f'{n}_bn' for n in g_convs[:-1]], d_convs, [f'{n}_bn' for n in d_convs[1:-1]]


def _load_flax_params(module, conv_names, bn_names, params) -> None:
    """Copies Flax parameters into a torch Sequential (NHWC/HWIO -> NCHW/OIHW or IOHW)."""
    import torch
    from torch import nn

    def tensor(x):
        return torch.from_numpy(np.array(x, dtype=np.float32))

    convs = [m for m in module if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    norms = [m for m in module if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for layer, name in zip(convs, conv_names, strict=True):
            kernel = np.asarray(params[name]['kernel'])
            if isinstance(layer, nn.ConvTranspose2d):  # torch's weight is the adjoint conv's: flip it
                layer.weight.copy_(tensor(kernel[::-1, ::-1].transpose(2, 3, 0, 1)))
            else:
                layer.weight.copy_(tensor(kernel.transpose(3, 2, 0, 1)))
            if layer.bias is not None:
                layer.bias.copy_(tensor(params[name]['bias']))
        for layer, name in zip(norms, bn_names, strict=True):
            layer.weight.copy_(tensor(params[name]['scale']))
            layer.bias.copy_(tensor(params[name]['bias']))


class TorchBench:
    def __init__(self, args: argparse.Namespace, jax_bench: JaxBench):
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F
        self.generator, self.discriminator = _torch_models(args)
        g_convs, g_norms, d_convs, d_norms = _layer_names(args)
        state = jax_bench.state
        _load_flax_params(self.generator, g_convs, g_norms, state.generator.params)
        _load_flax_params(self.discriminator, d_convs, d_norms, state.discriminator.params)
        self.g_opt = torch.optim.Adam(self.generator.parameters(), LEARNING_RATE, betas=(B1, B2))
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), LEARNING_RATE, betas=(B1, B2))
        images = np.array(jax_bench.batch['x'])  # a writable copy for torch.from_numpy
        self.real = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        self.batch, self.latent = args.batch, args.latent
        self.max_abs_diff = self._compare_forward(jax_bench)

    def _compare_forward(self, jax_bench: JaxBench) -> dict[str, float]:
        """Both sides must compute the same networks: G(z) and D(real) in train mode, same weights."""
        torch, state = self.torch, jax_bench.state
        z = np.random.default_rng(1).standard_normal((self.batch, self.latent)).astype(np.float32)
        fake, _ = state.generator.apply(z, train=True)
        logits, _ = state.discriminator.apply(jax_bench.batch['x'], train=True)
        with torch.no_grad():
            torch_fake = self.generator(torch.from_numpy(z)[:, :, None, None]).permute(0, 2, 3, 1).numpy()
            torch_logits = self.discriminator(self.real).flatten().numpy()
        diffs = {'generator': float(np.abs(torch_fake - np.asarray(fake)).max()),
                 'discriminator': float(np.abs(torch_logits - np.asarray(logits)).max())}
        if max(diffs.values()) > 1e-3:
            raise RuntimeError(f'the PyTorch networks do not compute the JAX ones: max |difference| {diffs}')
        return diffs

    def step(self) -> None:
        torch, F = self.torch, self.F
        generator, discriminator = self.generator, self.discriminator
        # D update: fakes from a no-grad G pass (the JAX step stops their gradient).
        with torch.no_grad():
            fake = generator(torch.randn(self.batch, self.latent, 1, 1))
        real_logits = discriminator(self.real).flatten()
        fake_logits = discriminator(fake).flatten()
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        # G update through the updated D.
        timing.torch_update_through_frozen(discriminator, self.g_opt, lambda: F.softplus(
            -discriminator(generator(torch.randn(self.batch, self.latent, 1, 1))).flatten()).mean())

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - start) / max(steps, 1)


# ------------------------------------------------------------------------------- driver


def main() -> None:
    args = _parse_args()
    cores = timing.num_cores()
    device_counts = [int(n) for n in args.devices.split(',')]
    conv_libraries = args.cpu_convolutions.split(',')
    report = {
        'config': {'jax_devices': device_counts, 'cpu_convolutions': conv_libraries, 'image_size': args.image_size,
                   'channels': args.channels, 'width': args.width, 'batch': args.batch, 'latent': args.latent,
                   'repeats': args.repeats, 'steps_per_repeat': args.steps_per_repeat},
        'host': {'cpu_cores': cores, 'machine': platform.machine(), 'jax': jax.__version__,
                 'jax_backend': jax.default_backend()},
    }
    # 'jax' is the first device count with the first library; others are named by what differs:
    # 'jax_<n>dev', 'jax_<library>' or 'jax_<n>dev_<library>'.
    jax_benches = {}
    for n in device_counts:
        for library in conv_libraries:
            devices = '' if n == device_counts[0] else f'_{n}dev'
            convolutions = '' if library == conv_libraries[0] else f'_{library}'
            jax_benches[f'jax{devices}{convolutions}'] = JaxBench(args, n, library)
    jax_bench = jax_benches['jax']
    benches = dict(jax_benches)
    torch = timing.import_torch(report, args.no_torch, args.torch_threads)
    if torch is not None:
        benches['torch'] = TorchBench(args, jax_bench)
        report['torch_same_forward_max_abs_diff'] = benches['torch'].max_abs_diff

    times = timing.time_interleaved(benches, args.warmup, args.repeats, args.steps_per_repeat)
    for name, samples in times.items():
        report[name] = timing.summarize(samples, args.batch)
    for name, bench in jax_benches.items():
        report[name]['compile_s'] = round(bench.compile_s, 2)
        report[name]['xla_flops_per_step'] = bench.flops
        if 'torch' in report:
            report[f'{name}_over_torch'] = round(report[name]['img_per_s'] / report['torch']['img_per_s'], 3)
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
