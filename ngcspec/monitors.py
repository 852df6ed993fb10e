"""Record modes beyond plain arrays: what a neuroscientist expects from a monitor.

``run.record`` (or a phase's ``record``) maps ``component.compartment`` to a mode:

- ``per_step`` / ``per_batch`` / ``final``: the compartment's value after every step, at the
  end of every batch, at the end of the run (see docs/design.md).
- ``spike_times``: the spikes of a batched compartment as a list, one row per spike with the
  columns :data:`SPIKE_COLUMNS` (epoch from 0, step within the batch from 0, sample, unit as a
  flat index). Inside the program each step keeps one bit per unit (``packbits``: 1/32 of a
  float32 per-step record); the run keeps and saves only the list, so what is stored grows
  with the number of spikes, not with steps x samples x units. A spike at step ``k`` happened
  at ``k * dt`` ms after the batch's start (the time the step's components see).
- ``rate``: the population rate in Hz after every step, per sample: the mean over the units
  of the compartment divided by ``dt`` (ms) times 1000. Shape (epochs, steps, samples).
- ``initial``: the value before the phase's first step of the run (weights before learning),
  so a change is the checkpoint's value minus it, without storing every batch.
- ``per_repeat``: the value at the end of every pass of the innermost ``repeat`` block, i.e.
  after the evolve that follows a step; ``per_step`` values are taken right after the step's
  advance, before that evolve, so recorded weights lag one step. Shape like ``per_step``.

The in-program halves (:func:`pack_spikes`, :func:`population_rate`) are traced into the
compiled step; the host halves turn the recorded arrays into what is saved.
"""

from __future__ import annotations

import numpy as np

from ngcspec.lazy import jnp

SPIKE_COLUMNS = ("epoch", "step", "sample", "unit")
#: modes recorded after each step, stored like ``per_step`` inside the program
STEP_MODES = ("per_step", "spike_times", "rate")
#: modes that need a batched compartment (one value per sample)
SAMPLE_MODES = ("spike_times", "rate")


def in_step(mode: str, value, dt):
    """What one step hands to the record of ``mode`` (traced)."""
    if mode == "spike_times":
        return pack_spikes(value)
    if mode == "rate":
        return population_rate(value, dt)
    return value


def pack_spikes(value):
    """(B, *units) spikes -> (B, ceil(n / 8)) uint8, one bit per unit (nonzero = spike)."""
    flat = value.reshape(value.shape[0], -1)
    return jnp.packbits(flat != 0, axis=-1)


def population_rate(value, dt):
    """(B, *units) spikes -> (B,) population rate in Hz (``dt`` in ms)."""
    flat = value.reshape(value.shape[0], -1).astype(dt.dtype)
    return jnp.mean(flat, axis=-1) * (1000.0 / dt)


def spike_list(packed: np.ndarray, n_units: int, epoch: int) -> np.ndarray:
    """Packed per-step bits (steps, samples, bytes) -> (n_spikes, 4) int32 rows of
    :data:`SPIKE_COLUMNS`, ordered by step, then sample, then unit."""
    packed = np.asarray(packed)
    rows = []
    for k in range(packed.shape[0]):       # one step at a time: never a dense (steps, ...) copy
        bits = np.unpackbits(packed[k], axis=-1, count=n_units)
        sample, unit = np.nonzero(bits)
        if len(sample):
            rows.append(np.stack([np.full_like(sample, epoch), np.full_like(sample, k),
                                  sample, unit], axis=1))
    if not rows:
        return np.zeros((0, len(SPIKE_COLUMNS)), np.int32)
    return np.concatenate(rows).astype(np.int32)


def dense_spikes(spikes: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """The inverse of the list: a (epochs, steps, samples, units) 0/1 array (for checks and
    small plots); ``epochs`` counts the distinct epochs in the list."""
    out = np.zeros(shape, np.uint8)
    epochs = np.unique(spikes[:, 0])
    index = np.searchsorted(epochs, spikes[:, 0])
    out[index, spikes[:, 1], spikes[:, 2], spikes[:, 3]] = 1
    return out


def join_epochs(mode: str, values: list[np.ndarray]) -> np.ndarray:
    """One record from the arrays of the epochs a phase ran: the first for ``initial``, the
    rows of every epoch for ``spike_times``; None for other modes (stacked by the caller)."""
    if mode == "initial":
        return values[0]
    if mode == "spike_times":
        return np.concatenate(values)
    return None
