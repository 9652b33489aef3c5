"""What a compiled XLA:CPU program spends its time on: its thunks by kind (`hlo_op_counts`) and,
from a profiler trace, thread-milliseconds per op kind (`profile_ops`). Used by
`pix2pix_step.py --profile-ops`.
"""
from __future__ import annotations

import collections
import os
import re
import tempfile
from typing import Callable

import jax

_INSTRUCTION = re.compile(r'^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*.*?\s([a-z][\w\-]*)\(')
_FUSION_MAIN_OPS = ('convolution', 'dot', 'reduce-window', 'select-and-scatter', 'reduce', 'scatter', 'gather',
                    'concatenate', 'transpose', 'copy')


def _hlo_instructions(hlo_text: str) -> dict[str, dict]:
    """The compiled program's unfused instructions (the entry's, and those of the while and call
    bodies: XLA:CPU's thunks): name -> {'kind', 'op_name'}.

    'kind' is the opcode, or for a fusion 'fusion(<its heaviest op>)' (convolution, dot, reduce,
    ..., else elementwise); 'op_name' is the JAX source path XLA kept in the metadata.
    """
    computations, entry, current = {}, {}, None
    for line in hlo_text.splitlines():
        if line.endswith('{') and ' = ' not in line.split('(')[0]:
            words = line.split()
            current = (words[1] if words[0] == 'ENTRY' else words[0]).lstrip('%')
            computations[current] = []
            continue
        match = _INSTRUCTION.match(line)
        if not match or current is None:
            continue
        name, opcode = match.groups()
        called = re.search(r'calls=%?([\w.\-]+)', line) if opcode == 'fusion' else None
        reducer = re.search(r'to_apply=%?([\w.\-]+)', line)
        op_name = re.search(r'op_name="([^"]*)"', line)
        computations[current].append({'name': name, 'opcode': opcode, 'calls': called and called.group(1),
                                      'to_apply': reducer and reducer.group(1),
                                      'op_name': op_name.group(1) if op_name else ''})
    # Fused computations and reducers are not thunks of their own.
    fused = {i[field] for body in computations.values() for i in body for field in ('calls', 'to_apply') if i[field]}
    for computation, body in computations.items():
        if computation in fused:
            continue
        for instruction in body:
            kind = instruction['opcode']
            if kind == 'fusion':
                inner = {i['opcode'] for i in computations.get(instruction['calls'], [])}
                kind = f"fusion({next((op for op in _FUSION_MAIN_OPS if op in inner), 'elementwise')})"
            entry[instruction['name']] = {'kind': kind, 'op_name': instruction['op_name']}
    return entry


def _short_op_name(op_name: str) -> str:
    """'jit(train_step)/transpose(jvp(UNetGenerator))/up3/up3._apply/...' -> 'transpose(jvp(UNetGenerator))/up3'."""
    parts = op_name.split('/')[1:]
    return '/'.join(parts[:2])


def profile_ops(compiled, run: Callable[[int], object], steps: int) -> dict:
    """Per HLO op kind: total ms per step summed over XLA:CPU's thunk events of a traced run.

    With XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true XLA:CPU emits one event per thunk (HLO
    op or fusion), named by its instruction. Events of parallel threads add up, so these are
    thread-milliseconds: shares of work, not of wall time.
    """
    instructions = _hlo_instructions(compiled.as_text())
    run(1)
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            run(steps)
        paths = [os.path.join(root, f) for root, _, files in os.walk(folder) for f in files
                 if f.endswith('.xplane.pb')]
        if not paths:
            return {'note': 'the profiler wrote no trace'}
        data = jax.profiler.ProfileData.from_file(paths[0])
    by_kind, by_op = collections.Counter(), collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            for event in line.events:
                if event.name in instructions:  # the thunk of that instruction ('end: ...' events aside)
                    by_kind[instructions[event.name]['kind']] += event.duration_ns
                    by_op[event.name] += event.duration_ns
    if not by_kind:
        return {'note': 'no per-op events in the trace: run with XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true'}
    per_step = 1e-6 / steps
    top = [{'op': op, 'kind': instructions[op]['kind'], 'where': _short_op_name(instructions[op]['op_name']),
            'ms_per_step': round(ns * per_step, 3)} for op, ns in by_op.most_common(40)]
    return {'thread_ms_per_step_by_kind': {k: round(ns * per_step, 2) for k, ns in by_kind.most_common()},
            'thread_ms_per_step_total': round(sum(by_kind.values()) * per_step, 2),
            'top_ops': top}


def hlo_op_counts(compiled) -> dict[str, int]:
    """How many top-level instructions (thunks) of each kind the compiled step runs."""
    counts = collections.Counter(v['kind'] for v in _hlo_instructions(compiled.as_text()).values())
    return dict(counts.most_common())
