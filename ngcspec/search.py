"""Adaptive search: ``combine: {optuna: {trials: 64, batch: 16}}``.

Optuna's sampler is asked for ``batch`` trials at a time; their members (each trial once
per seed) run together as one study (:func:`ngcspec.sweep.run_sweep`, the compiled programs
kept from batch to batch), and each trial is told the mean of the report metric over its
seeds (a trial with a non-finite member is told it failed). Swept values map to the
sampler's distributions: linspace -> a float range, logspace -> a log float range,
range -> integers, a list -> a categorical choice. The sampler is seeded with the file's
seed, so a search is reproducible.
"""

from __future__ import annotations

import itertools
import math

from ngcspec.errors import NgcspecError
from ngcspec.spec import IntRange, Linspace, Logspace
from ngcspec.sweepspec import Member, report_of, seeds_of, swept_params


class MissingExtra(NgcspecError):
    pass


def _optuna():
    try:
        import optuna
    except ImportError:
        raise MissingExtra("combine: {optuna: ...} needs the optional package optuna: "
                           'pip install -e ".[search]" (or use combine: grid, zip or '
                           "{random: N})") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def suggest(trial, name: str, values):
    """The trial's value for one swept parameter, from the distribution its values give."""
    if isinstance(values, Linspace):
        lo, hi = sorted(values.linspace)
        return trial.suggest_float(name, lo, hi)
    if isinstance(values, Logspace):
        lo, hi = sorted(values.logspace)
        return trial.suggest_float(name, lo, hi, log=True)
    if isinstance(values, IntRange):
        start, stop, step = (*values.range, 1)[:3]
        last = start + (len(range(start, stop, step)) - 1) * step
        return trial.suggest_int(name, min(start, last), max(start, last), step=abs(step))
    return trial.suggest_categorical(name, list(values))


def run_optuna(resolved, epochs=None, members_per_call=None, listener=None,
               keep_records=False):
    """Run an optuna search as batches of vmapped members; returns one
    :class:`~ngcspec.sweep.SweepResult` holding every member of every trial."""
    from ngcspec.sweep import GroupInfo, Study, SweepResult, run_sweep

    optuna = _optuna()
    sweep = resolved.spec.sweep
    opts = sweep.combine.optuna
    report = report_of(sweep, resolved.phases)
    if report is None:
        raise NgcspecError("an optuna search needs a metric to optimise: add metrics to a "
                           "phase and sweep.report: {metric: phase.metric}")
    metric, goal = report
    sampler = (optuna.samplers.TPESampler(seed=resolved.spec.seed) if opts.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=resolved.spec.seed))
    search = optuna.create_study(direction="maximize" if goal == "max" else "minimize",
                                 sampler=sampler)
    params = swept_params(sweep, resolved.components)
    seeds = seeds_of(sweep, resolved.spec.seed)
    study = Study(resolved, params)
    parts = []
    done = 0
    while done < opts.trials:
        trials = [search.ask() for _ in range(min(opts.batch, opts.trials - done))]
        combos = [{p.name: _convert(p, suggest(t, p.name, sweep.params[p.name]))
                   for p in params} for t in trials]
        members = [Member(i, combo, seed) for i, (combo, seed) in
                   enumerate(itertools.product(combos, seeds))]
        part = run_sweep(resolved, epochs=epochs, members_per_call=members_per_call,
                         listener=listener, keep_records=keep_records, members=members,
                         study=study)
        for ti, trial in enumerate(trials):
            own = range(ti * len(seeds), (ti + 1) * len(seeds))
            values = [part.final_metrics(i).get(metric, math.nan) for i in own]
            if all(part.finite[i] and math.isfinite(v) for i, v in zip(own, values)):
                search.tell(trial, sum(values) / len(values))
            else:
                search.tell(trial, state=optuna.trial.TrialState.FAIL)
        parts.append(part)
        done += len(trials)
    members, groups, offset = [], [], 0
    for part in parts:
        members += [Member(offset + m.index, m.values, m.seed) for m in part.members]
        groups += [GroupInfo(len(groups), g.structural, [offset + i for i in g.members],
                             g.chunk_size, g.chunks, g.memory_bytes, g.chosen_by)
                   for g in part.groups]
        offset += len(part.members)
    first = parts[0]
    return SweepResult(
        first.name, params, members, [m for p in parts for m in p.metrics],
        [f for p in parts for f in p.finite], [s for p in parts for s in p.states], groups,
        report, first.epochs,
        [r for p in parts for r in p.records] if keep_records else None,
        {"sweep_s": sum(p.timings["sweep_s"] for p in parts), "trials": done,
         "batches": len(parts)})


def _convert(param, value):
    return float(value) if param.numeric else value
