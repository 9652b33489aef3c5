"""The engine: one state pytree, one jitted step for every game, and the loop around it.

state (players and their arrays) -> step (the jitted update) -> experiment (building both from a
config) -> loop (data, logs, sample grids, checkpoints, preemption), over sharding (meshes,
global batches), distributed (multi-process start-up) and compile_options (per-program XLA flags).
"""
