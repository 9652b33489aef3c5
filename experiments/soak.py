"""A long run watched from outside: resident memory, checkpoint rotation and log sizes.

    python experiments/soak.py --workdir /tmp/soak --out experiments/results/reliability_soak

Runs `gans train` (the default digits config unless --config) as a child process for --steps
steps with a checkpoint every --checkpoint_every, and every --every steps records the child's
resident memory (VmRSS of /proc/<pid>/status), the size of checkpoints/ and the number of
complete checkpoints in it, and the sizes of metrics.jsonl and tensorboard/. Writes soak.json
(every sample and the summary) and prints the summary:

  rss_growth_after_warmup = (max RSS after --warmup steps - RSS at --warmup) / RSS at --warmup,
  the same for RssAnon (the heap; the bar: file-backed pages move with other processes' load),
  rss_anon_floor_growth_after_warmup: the same for the floor, the lowest RssAnon of each window
  of --every steps, read every --memory_seconds. One reading can land on a checkpoint write or a
  sample grid and carry its transient buffers (tens of MB on the digits DCGAN); the floor is the
  memory the run keeps, which is what a leak grows.
  checkpoint_dir_bytes_max, checkpoints_kept_max (<= max_to_keep),
  metric_lines == number of logged steps, each step once.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

DEFAULT_CONFIG = 'experiments/configs/dcgan_digits.py'


def memory_bytes(pid: int) -> dict:
    """VmRSS and its anonymous part (RssAnon: the heap, what a leak grows). The file-backed rest
    is mostly the mapped jaxlib libraries, which the kernel evicts and re-reads under page-cache
    pressure from other processes, so it moves by hundreds of MB without the run doing anything."""
    fields = {'VmRSS:': 'rss_bytes', 'RssAnon:': 'rss_anon_bytes', 'RssFile:': 'rss_file_bytes'}
    found = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            key = line.split(maxsplit=1)[0]
            if key in fields:
                found[fields[key]] = int(line.split()[1]) * 1024
    if len(found) != len(fields):
        raise RuntimeError(f'no memory fields for process {pid}')
    return found


def tree_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:  # rotated away while walking
                pass
    return total


def last_logged_step(path: str) -> int:
    """The step of the last complete line of metrics.jsonl (0 before the first)."""
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = f.read().decode().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)['step'])
        except (ValueError, KeyError):
            continue
    return 0


def sample(workdir: str, pid: int, step: int) -> dict:
    checkpoints = os.path.join(workdir, 'checkpoints')
    kept = [n for n in os.listdir(checkpoints) if n.isdigit()] if os.path.isdir(checkpoints) else []
    return {'step': step, 'time_s': time.time(), **memory_bytes(pid),
            'checkpoint_dir_bytes': tree_bytes(checkpoints), 'checkpoints_kept': len(kept),
            'metrics_bytes': os.path.getsize(os.path.join(workdir, 'metrics.jsonl')),
            'tensorboard_bytes': tree_bytes(os.path.join(workdir, 'tensorboard'))}


def window_floors(readings: list[dict], every: int) -> dict[int, int]:
    """{window start step: the lowest RssAnon read in [start, start + every)}."""
    floors: dict[int, int] = {}
    for r in readings:
        start = r['step'] // every * every
        floors[start] = min(floors.get(start, r['rss_anon_bytes']), r['rss_anon_bytes'])
    return dict(sorted(floors.items()))


def summarize(samples: list[dict], workdir: str, warmup: int, log_every: int, steps: int,
              readings: list[dict] | None = None, every: int = 1000) -> dict:
    """The soak's numbers; a run stopped before `steps` (SIGTERM: it logs and saves where it stops)
    is summarized up to its last logged step."""
    at_warmup = next(s for s in samples if s['step'] >= warmup)
    after = [s for s in samples if s['step'] >= warmup]
    anon_max = max(s['rss_anon_bytes'] for s in after)
    logged = [json.loads(line)['step'] for line in open(os.path.join(workdir, 'metrics.jsonl'))]
    last = min(steps, logged[-1])
    expected = sorted(set(range(log_every, last + 1, log_every)) | {last})
    return {
        'rss_at_warmup_bytes': at_warmup['rss_bytes'], 'rss_max_after_warmup_bytes': max(s['rss_bytes'] for s in after),
        'rss_growth_after_warmup': max(s['rss_bytes'] for s in after) / at_warmup['rss_bytes'] - 1,
        'rss_anon_at_warmup_bytes': at_warmup['rss_anon_bytes'], 'rss_anon_max_after_warmup_bytes': anon_max,
        'rss_anon_growth_after_warmup': anon_max / at_warmup['rss_anon_bytes'] - 1,
        'rss_anon_end_growth': after[-1]['rss_anon_bytes'] / at_warmup['rss_anon_bytes'] - 1,
        'checkpoint_dir_bytes_max': max(s['checkpoint_dir_bytes'] for s in samples),
        'checkpoints_kept_max': max(s['checkpoints_kept'] for s in samples),
        'metric_lines': len(logged), 'metric_steps_unique': len(set(logged)),
        'metric_lines_as_expected': logged == expected,
        'metrics_bytes_per_line': samples[-1]['metrics_bytes'] / max(len(logged), 1),
        'wall_s': samples[-1]['time_s'] - samples[0]['time_s'], 'last_step': last, 'steps_asked': steps,
        **_floor_summary(readings or [], warmup, every),
    }


def _floor_summary(readings: list[dict], warmup: int, every: int) -> dict:
    floors = window_floors(readings, every)
    start = warmup // every * every
    later = [v for k, v in floors.items() if k > start]
    if start not in floors or not later:
        return {}
    return {'rss_anon_floor_at_warmup_bytes': floors[start], 'rss_anon_floor_max_after_warmup_bytes': max(later),
            'rss_anon_floor_growth_after_warmup': max(later) / floors[start] - 1,
            'rss_anon_floor_end_growth': later[-1] / floors[start] - 1,
            'rss_anon_floors': {str(k): v for k, v in floors.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--out', required=True, help='folder for soak.json and soak.png')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--steps', type=int, default=50_000)
    parser.add_argument('--checkpoint_every', type=int, default=1000)
    parser.add_argument('--every', type=int, default=1000, help='sample every this many steps')
    parser.add_argument('--warmup', type=int, default=5000)
    parser.add_argument('--log_every', type=int, default=100)
    parser.add_argument('--memory_seconds', type=float, default=5.0, help='read RssAnon this often for the floors')
    args = parser.parse_args()
    if os.path.exists(args.workdir):
        sys.exit(f'{args.workdir} exists: the soak starts a fresh run')
    os.makedirs(args.out, exist_ok=True)
    command = ['gans', 'train', f'--config={args.config}', f'--workdir={args.workdir}',
               f'--config.num_steps={args.steps}', f'--config.checkpoint_every={args.checkpoint_every}',
               f'--config.log_every={args.log_every}']
    log = open(os.path.join(args.out, 'train.log'), 'w')
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    metrics = os.path.join(args.workdir, 'metrics.jsonl')
    samples, readings, next_step, next_reading = [], [], args.every, 0.0
    while child.poll() is None:
        step = last_logged_step(metrics)
        if time.time() >= next_reading:
            try:
                readings.append({'step': step, 'time_s': time.time(), **memory_bytes(child.pid)})
            except (OSError, RuntimeError):  # the child exited between poll and read
                pass
            next_reading = time.time() + args.memory_seconds
        if step >= next_step:
            samples.append(sample(args.workdir, child.pid, step))
            print(json.dumps(samples[-1]), flush=True)
            next_step = (step // args.every + 1) * args.every
        time.sleep(0.5)
    if child.returncode:
        sys.exit(f'gans train exited with {child.returncode}; see {log.name}')
    result = {'command': ' '.join(command), 'samples': samples, 'memory_readings': readings,
              'summary': summarize(samples, args.workdir, args.warmup, args.log_every, args.steps, readings,
                                   args.every)}
    with open(os.path.join(args.out, 'soak.json'), 'w') as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result['summary'], indent=1))


if __name__ == '__main__':
    main()
