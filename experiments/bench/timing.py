"""What the step benchmarks share: the cores, the optional PyTorch side, interleaved timing.

Each bench object has `run(steps) -> seconds per step`. Timing runs every bench's warm-up, then
`repeats` rounds in which each bench runs `steps_per_repeat` steps in turn, so that every
variant sees the same background load; the report is the median round per bench.
"""
from __future__ import annotations

import os
import statistics


def num_cores() -> int:
    """The cores this process may use (XLA:CPU's thread pool sizes itself the same way)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def import_torch(report: dict, skip: bool, threads: int):
    """PyTorch with `threads` intra-op threads (0: the cores), or None with a note in `report`."""
    try:
        import torch
    except ImportError:
        report['torch_note'] = 'torch not installed (pip install .[bench]); PyTorch side skipped'
        return None
    if skip:
        report['torch_note'] = 'PyTorch side skipped (--no-torch)'
        return None
    torch.set_num_threads(threads or num_cores())  # default: the cores XLA's pool uses
    report['host']['torch'] = torch.__version__
    report['host']['torch_threads'] = torch.get_num_threads()
    return torch


def time_interleaved(benches: dict, warmup: int, repeats: int, steps_per_repeat: int) -> dict[str, list[float]]:
    """Seconds per step of each bench in each of `repeats` interleaved rounds."""
    for bench in benches.values():
        bench.run(warmup)
    times = {name: [] for name in benches}
    for _ in range(repeats):
        for name, bench in benches.items():
            times[name].append(bench.run(steps_per_repeat))
    return times


def summarize(times: list[float], batch: int, digits: int = 1) -> dict:
    """Images/s of the median round, and the median, fastest and slowest step in ms."""
    median = statistics.median(times)
    return {'img_per_s': round(batch / median, digits), 'step_ms': round(1e3 * median, 2),
            'step_ms_min': round(1e3 * min(times), 2), 'step_ms_max': round(1e3 * max(times), 2)}


def torch_update_through_frozen(discriminator, optimizer, loss) -> None:
    """One PyTorch `optimizer` step on `loss()` (a generator's), computed with `discriminator`'s
    weights frozen: the gradient reaches only the generator, as in the standard GAN step."""
    for p in discriminator.parameters():
        p.requires_grad_(False)
    value = loss()
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    optimizer.step()
    for p in discriminator.parameters():
        p.requires_grad_(True)
