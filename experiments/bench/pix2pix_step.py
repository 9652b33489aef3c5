"""Times one pix2pix train step (U-Net + PatchGAN: D update, then G update) in JAX beside PyTorch eager.

The JAX side is the library's own step: `gans.engine.experiment.build_experiment` on
`base_config('pix2pix', 'pix2pix')` with the paper's networks at `--image-size` (U-Net of
width 64 down to a 1x1 bottleneck, dropout 0.5 on its first three decoder layers; the 70x70
PatchGAN, `--num-layers 3`; batch norm in both), for a synthetic paired dataset of random
[-1, 1] (source, target) images, jitted over a one-device mesh. Variants: `--cpu-convolutions`
(XLA:CPU's convolution library: 'eigen', the library's default, or 'xla_default', YNNPACK) x
`--conv-layers` ('canonical': the library's custom-VJP convolutions, its CPU default; 'xla':
the same layers on plain lax convolutions differentiated by JAX), each timed beside the others.

The PyTorch side is the standard pix2pix step on the twins of `torch_pix2pix.py`, loaded with
the JAX side's initial variables: fake = G(source); D update on (source, target) against
(source, fake.detach()), two D passes so batch norm never mixes real and fake pairs,
BCE-with-logits halved; then G update through the updated D with BCE(D(source, fake), 1) +
100 L1(fake, target); Adam(2e-4, b1=0.5) for both. That step runs G forward once; the
library's engine runs it twice (once without gradient inside D's loss, once in G's loss).
`--torch-two-g-forwards` also times PyTorch on the engine's schedule (a no-grad G pass for D's
update, a fresh G pass for G's), and `--jax-reuse-g-forward` times a hand-written JAX step on
PyTorch's schedule (one G forward, its VJP kept for G's update; the library's networks and
optimizers, not the library's step), to show what the engine's schedule costs on each side.

    python experiments/bench/pix2pix_step.py                       # 64 px, batch 16, width 64
    python experiments/bench/pix2pix_step.py --cpu-convolutions eigen,xla_default --conv-layers canonical,xla
    python experiments/bench/pix2pix_step.py --torch-two-g-forwards --jax-reuse-g-forward
    python experiments/bench/pix2pix_step.py --components          # G / D forward and backward alone
    XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true python experiments/bench/pix2pix_step.py --profile-ops 3

Prints one JSON object: images/s (median of interleaved blocks) per variant, compile time, XLA
FLOPs per step, the jax/torch ratios, the same-forward check, the machine and the config.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from gans.config import base_config
from gans.data import DatasetSpec
from gans.engine import compile_options, sharding
from gans.engine.experiment import build_experiment, train_key
from gans.engine.state import stream_keys
from gans.engine.step import jit_train_step
from gans.games.pix2pix import l1_loss

SPEC_NAME = 'synthetic_pairs'
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:  # experiments/ is not an installed package: run as a script, find it
    sys.path.insert(0, _ROOT)
from experiments.bench import pix2pix_torch_step, timing, xla_ops  # noqa: E402
from experiments.bench.pix2pix_torch_step import B1, B2, LEARNING_RATE  # noqa: E402


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--image-size', type=int, default=64, help='16, 32, 64, 128 or 256')
    parser.add_argument('--source-channels', type=int, default=3)
    parser.add_argument('--channels', type=int, default=3, help='target (and generated) image channels')
    parser.add_argument('--width', type=int, default=64, help='generator.width and discriminator.width')
    parser.add_argument('--num-layers', type=int, default=3, help='discriminator.num_layers (3: 70x70 PatchGAN)')
    parser.add_argument('--repeats', type=int, default=7, help='timed blocks per variant (median is reported)')
    parser.add_argument('--steps-per-repeat', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per variant after compilation')
    parser.add_argument('--cpu-convolutions', default='eigen',
                        help="comma-separated XLA:CPU convolution libraries: 'eigen' (the library's default) "
                             "and/or 'xla_default' (YNNPACK)")
    parser.add_argument('--conv-layers', default='canonical',
                        help="comma-separated convolution layers (config.conv_layers): 'canonical' (custom-VJP "
                             "convolutions, the CPU default) and/or 'xla' (plain lax convolutions)")
    parser.add_argument('--no-torch', action='store_true', help='time the JAX side only')
    parser.add_argument('--torch-threads', type=int, default=0,
                        help='PyTorch intra-op threads (default: the cores this process may use)')
    parser.add_argument('--torch-two-g-forwards', action='store_true',
                        help="also time PyTorch on the engine's schedule (G forward twice per step)")
    parser.add_argument('--jax-reuse-g-forward', action='store_true',
                        help="also time a hand-written JAX step on PyTorch's schedule (one G forward, its VJP "
                             "reused), for the first convolution library and layers")
    parser.add_argument('--components', action='store_true',
                        help='also time G forward, G forward+backward, D forward, D forward+backward (parameters) '
                             'and D input gradient alone, on both sides (first JAX variant)')
    parser.add_argument('--profile-ops', type=int, default=0, metavar='STEPS',
                        help='trace this many steps of the first JAX variant and report time per HLO op kind '
                             '(needs XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true for per-op events)')
    return parser.parse_args(argv)


def _log(message: str) -> None:
    """Progress on stderr (stdout carries the JSON report)."""
    print(f'[pix2pix_step {time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


def _load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, 'getloadavg') else None


# ----------------------------------------------------------------------------- JAX side


def make_spec(args: argparse.Namespace) -> DatasetSpec:
    size = args.image_size
    return DatasetSpec(SPEC_NAME, 'paired', (size, size, args.channels), None, {'train': 1024},
                       features={'source': (size, size, args.source_channels),
                                 'target': (size, size, args.channels)})


def make_config(args: argparse.Namespace, cpu_convolutions: str, conv_layers: str):
    """The paper's pix2pix at this size: base_config('pix2pix', 'pix2pix') with the flags' sizes."""
    config = base_config('pix2pix', 'pix2pix')
    config.dataset = SPEC_NAME
    config.num_steps = 1000
    config.batch_size = args.batch
    config.generator.width = args.width
    config.discriminator.width = args.width
    config.discriminator.num_layers = args.num_layers
    config.generator.norm = config.discriminator.norm = 'batch'
    config.optim.g_lr = config.optim.d_lr = LEARNING_RATE
    config.optim.b1, config.optim.b2 = B1, B2
    config.optim.lr_schedule = 'constant'
    config.cpu_convolutions = cpu_convolutions
    config.conv_layers = conv_layers
    return config


def make_batch(args: argparse.Namespace) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    size = args.image_size
    return {'source': rng.uniform(-1, 1, (args.batch, size, size, args.source_channels)).astype(np.float32),
            'target': rng.uniform(-1, 1, (args.batch, size, size, args.channels)).astype(np.float32)}


def reuse_g_forward_step(game):
    """A pix2pix step on PyTorch's schedule: G forward once, its VJP kept for G's update.

    D's update sees the fakes of that forward (stop-gradient), G's update differentiates its
    loss through the updated D to the fakes, then pulls that back through the saved VJP. Same
    losses, networks and optimizers as the library's step; only the schedule differs (and so
    D and G see the same dropout masks in a step, as in the reference PyTorch code).
    """
    objective = game.objective

    def train_step(state, batch, key):
        key = jax.random.fold_in(key, state.step)
        source, target = batch['source'], batch['target']
        g, d = state.generator, state.discriminator

        def g_forward(params):
            return g.apply(source, params=params, train=True, key=key)

        fake, g_vjp, g_model_state = jax.vjp(g_forward, g.params, has_aux=True)

        def d_loss(d_params):
            real_logits, model_state = d.apply({'source': source, 'image': target}, params=d_params, train=True)
            fake_logits, model_state = d.apply({'source': source, 'image': jax.lax.stop_gradient(fake)},
                                               params=d_params, model_state=model_state, train=True)
            adversarial = objective.d_loss(real_logits, fake_logits)
            return game.d_loss_scale * adversarial, (model_state, adversarial)

        d_grads, (d_model_state, d_adversarial) = jax.grad(d_loss, has_aux=True)(d.params)
        d = d.apply_gradients(d_grads, d_model_state)

        def g_loss(image):
            logits, _ = d.apply({'source': source, 'image': image}, train=True)
            return game.gan_weight * objective.g_loss(logits) + game.l1_weight * l1_loss(image, target)

        g_loss_value, fake_grad = jax.value_and_grad(g_loss)(fake)
        (g_grads,) = g_vjp(fake_grad)
        g = g.apply_gradients(g_grads, g_model_state)
        metrics = {'d_loss': d_adversarial, 'g_loss': g_loss_value}
        return state.replace(generator=g, discriminator=d, step=state.step + 1), metrics

    return train_step


class JaxBench:
    """The library's pix2pix step (or, with `reuse_g_forward`, the hand-written one) compiled for one variant."""

    def __init__(self, args: argparse.Namespace, cpu_convolutions: str, conv_layers: str,
                 reuse_g_forward: bool = False):
        self.config = make_config(args, cpu_convolutions, conv_layers)
        mesh = sharding.make_mesh(1)
        experiment = build_experiment(self.config, make_spec(args), mesh)
        self.experiment, self.state = experiment, experiment.state
        self.batch = sharding.global_batch(make_batch(args), mesh)
        self.key = sharding.replicate(train_key(self.config), mesh)
        step = (jit_train_step(reuse_g_forward_step(experiment.game), mesh, cpu_convolutions) if reuse_g_forward
                else experiment.train_step)
        lowered = step.lower(self.state, self.batch, self.key)
        start = time.perf_counter()
        self.compiled = lowered.compile()
        self.compile_s = time.perf_counter() - start
        cost = self.compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost  # older jax returned a list
        self.flops = float(cost.get('flops', float('nan')))
        self.initial_variables = {'generator': self._variables(self.state.generator),
                                  'discriminator': self._variables(self.state.discriminator)}

    @staticmethod
    def _variables(player) -> dict:
        return jax.tree.map(np.asarray, player.variables())  # host copies: the step donates the state

    def run(self, steps: int) -> float:
        """Seconds per step over `steps` steps, waiting for the last result."""
        start, metrics = time.perf_counter(), None
        for _ in range(steps):
            self.state, metrics = self.compiled(self.state, self.batch, self.key)
        jax.block_until_ready((self.state, metrics))
        return (time.perf_counter() - start) / max(steps, 1)


# ------------------------------------------------------------------ components (--components)


def _jax_components(jax_bench: JaxBench) -> dict:
    """Jitted pieces of the step on the JAX networks: name -> (function, arguments)."""
    options = compile_options.compiler_options(jax_bench.config.cpu_convolutions, 'cpu')
    g_player, d_player = jax_bench.experiment.state.generator, jax_bench.experiment.state.discriminator
    g_net, d_net, g_streams = g_player.network, d_player.network, g_player.rng_streams
    g_vars, d_vars = jax_bench.initial_variables['generator'], jax_bench.initial_variables['discriminator']
    source, target = jax_bench.batch['source'], jax_bench.batch['target']
    g_weights = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, target.shape).astype(np.float32))
    key = jax.random.key(11)

    def g_forward(params, model_state, s, k):
        return g_net.apply({'params': params, **model_state}, s, train=True, rngs=stream_keys(g_streams, k),
                           mutable=list(model_state))

    def g_forward_backward(params, model_state, s, k):
        def loss(p):
            out, new_state = g_forward(p, model_state, s, k)
            return jnp.sum(out * g_weights), new_state
        return jax.grad(loss, has_aux=True)(params)

    def d_forward(params, model_state, s, t):
        return d_net.apply({'params': params, **model_state}, s, t, train=True, mutable=list(model_state))

    def d_forward_backward(params, model_state, s, t):
        def loss(p):
            logits, new_state = d_forward(p, model_state, s, t)
            return jnp.mean(jax.nn.softplus(-logits)), new_state
        return jax.grad(loss, has_aux=True)(params)

    def d_input_grad(params, model_state, s, t):
        def loss(image):
            logits, _ = d_forward(params, model_state, s, image)
            return jnp.mean(jax.nn.softplus(-logits))
        return jax.grad(loss)(t)

    g_params, g_state = g_vars['params'], {k: v for k, v in g_vars.items() if k != 'params'}
    d_params, d_state = d_vars['params'], {k: v for k, v in d_vars.items() if k != 'params'}
    pieces = {'g_forward': (g_forward, (g_params, g_state, source, key)),
              'g_forward_backward': (g_forward_backward, (g_params, g_state, source, key)),
              'd_forward': (d_forward, (d_params, d_state, source, target)),
              'd_forward_backward': (d_forward_backward, (d_params, d_state, source, target)),
              'd_input_grad': (d_input_grad, (d_params, d_state, source, target))}
    compiled = {}
    for name, (fn, fn_args) in pieces.items():
        fn_args = jax.device_put(fn_args)
        lowered = jax.jit(fn, compiler_options=options).lower(*fn_args)
        program = lowered.compile()
        cost = program.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        compiled[name] = (program, fn_args, float(cost.get('flops', float('nan'))))
    return compiled


def time_components(args: argparse.Namespace, jax_bench: JaxBench, torch_bench: 'pix2pix_torch_step.TorchBench | None') -> dict:
    """Median ms of each piece of the step alone, JAX and PyTorch interleaved block by block."""
    jax_pieces = _jax_components(jax_bench)
    torch_pieces = pix2pix_torch_step.torch_components(torch_bench) if torch_bench is not None else {}
    if torch_bench is not None:
        torch_bench.generator.train()
        torch_bench.discriminator.train()

    def jax_block(name, steps):
        program, fn_args, _ = jax_pieces[name]
        start, out = time.perf_counter(), None
        for _ in range(steps):
            out = program(*fn_args)
        jax.block_until_ready(out)
        return (time.perf_counter() - start) / steps

    def torch_block(name, steps):
        start = time.perf_counter()
        for _ in range(steps):
            torch_pieces[name]()
        return (time.perf_counter() - start) / steps

    steps = max(args.steps_per_repeat, 3)
    result = {}
    for name in jax_pieces:
        jax_block(name, 1)
        if name in torch_pieces:
            torch_block(name, 1)
        samples = {'jax': [], 'torch': []}
        for _ in range(args.repeats):
            samples['jax'].append(jax_block(name, steps))
            if name in torch_pieces:
                samples['torch'].append(torch_block(name, steps))
        entry = {'jax_ms': round(1e3 * statistics.median(samples['jax']), 2),
                 'jax_xla_flops': jax_pieces[name][2]}
        if samples['torch']:
            entry['torch_ms'] = round(1e3 * statistics.median(samples['torch']), 2)
            entry['jax_over_torch_time'] = round(entry['jax_ms'] / entry['torch_ms'], 3)
        result[name] = entry
    if torch_bench is not None:
        torch_bench._load()  # pylint: disable=protected-access
    return result


# ------------------------------------------------------------------------------- driver


def _variant_name(library: str, layers: str, libraries: list[str], layer_kinds: list[str]) -> str:
    """'jax' for the first library and layers; else named by what differs: 'jax_<library>',
    'jax_<layers>_layers' or 'jax_<library>_<layers>_layers'."""
    name = 'jax'
    if library != libraries[0]:
        name += f'_{library}'
    if layers != layer_kinds[0]:
        name += f'_{layers}_layers'
    return name


def main(argv=None) -> dict:
    args = _parse_args(argv)
    cores = timing.num_cores()
    libraries = args.cpu_convolutions.split(',')
    layer_kinds = args.conv_layers.split(',')
    report = {
        'config': {'cpu_convolutions': libraries, 'conv_layers': layer_kinds, 'image_size': args.image_size,
                   'source_channels': args.source_channels, 'channels': args.channels, 'width': args.width,
                   'num_layers': args.num_layers, 'batch': args.batch, 'repeats': args.repeats,
                   'steps_per_repeat': args.steps_per_repeat, 'warmup': args.warmup},
        'host': {'cpu_cores': cores, 'machine': platform.machine(), 'processor': platform.processor(),
                 'load_average_start': _load_average(), 'jax': jax.__version__,
                 'jax_backend': jax.default_backend(), 'xla_flags': os.environ.get('XLA_FLAGS', '')},
    }
    variants = [(_variant_name(library, layers, libraries, layer_kinds), library, layers, False)
                for library in libraries for layers in layer_kinds]
    if args.jax_reuse_g_forward:
        variants.append(('jax_reuse_g_forward', libraries[0], layer_kinds[0], True))
    jax_benches = {}
    for name, library, layers, reuse in variants:
        start = time.perf_counter()
        jax_benches[name] = JaxBench(args, library, layers, reuse_g_forward=reuse)
        _log(f'built {name} in {time.perf_counter() - start:.0f} s (XLA compile of the step '
             f'{jax_benches[name].compile_s:.0f} s)')
    jax_bench = jax_benches['jax']
    report['config']['generator'] = jax_bench.config.generator.to_dict()
    report['config']['discriminator'] = jax_bench.config.discriminator.to_dict()
    report['config']['pix2pix'] = {k: v for k, v in jax_bench.config.pix2pix.to_dict().items()
                                   if k in ('loss', 'l1_weight', 'gan_weight')}
    report['parameters'] = {player: int(sum(np.size(x) for x in jax.tree.leaves(v['params'])))
                            for player, v in jax_bench.initial_variables.items()}
    benches = dict(jax_benches)
    torch_benches = {}
    torch = timing.import_torch(report, args.no_torch, args.torch_threads)
    if torch is not None:
        torch_benches['torch'] = pix2pix_torch_step.TorchBench(args, jax_bench)
        report['torch_same_forward_max_abs_diff'] = torch_benches['torch'].compare_forward(jax_bench)
        if args.torch_two_g_forwards:
            torch_benches['torch_two_g_forwards'] = pix2pix_torch_step.TorchBench(args, jax_bench, two_g_forwards=True)
        benches.update(torch_benches)
    report['jax_hlo_op_counts'] = xla_ops.hlo_op_counts(jax_bench.compiled)

    if args.components:  # before the steps run, while the initial variables are the state's
        _log('timing components')
        report['components'] = time_components(args, jax_bench, torch_benches.get('torch'))
    _log(f'timing {list(benches)}')

    times = timing.time_interleaved(benches, args.warmup, args.repeats, args.steps_per_repeat)
    for name, samples in times.items():
        report[name] = timing.summarize(samples, args.batch, digits=2)
    for name, bench in jax_benches.items():
        report[name]['compile_s'] = round(bench.compile_s, 2)
        report[name]['xla_flops_per_step'] = bench.flops
        report[name]['cpu_convolutions'] = bench.config.cpu_convolutions
        report[name]['conv_layers'] = bench.config.conv_layers
        for torch_name in torch_benches:
            suffix = '' if torch_name == 'torch' else torch_name[len('torch'):]
            report[f'{name}_over_torch{suffix}'] = round(report[name]['img_per_s'] /
                                                        report[torch_name]['img_per_s'], 3)
    if args.profile_ops:
        _log('profiling')
        report['jax_profile'] = xla_ops.profile_ops(jax_bench.compiled, jax_bench.run, args.profile_ops)
    report['host']['load_average_end'] = _load_average()
    print(json.dumps(report, indent=2))
    return report


if __name__ == '__main__':
    main()
