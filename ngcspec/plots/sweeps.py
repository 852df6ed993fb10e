"""Plots of a sweep directory: each final metric against each swept parameter, the mean over
seeds as points and their standard deviation as error bars, one line per combination of the
other parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngcspec.plots.figures import new_figure


def is_sweep(path: Path) -> bool:
    return (Path(path) / "members.csv").is_file() and (Path(path) / "sweep.yaml").is_file()


def metric_names(table: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for entry in table for k in entry["metrics"]))


def series(table: list[dict], param: str, metric: str) -> dict[str, tuple[list, list, list]]:
    """Label of the other parameters' values -> (x, mean, std) sorted by x."""
    lines: dict[str, list] = {}
    for entry in table:
        others = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in entry["values"].items() if k != param)
        mean, std = entry["metrics"].get(metric, (np.nan, 0.0))
        lines.setdefault(others, []).append((entry["values"][param], mean, std))
    out = {}
    for label, points in lines.items():
        points.sort(key=lambda p: (not isinstance(p[0], (int, float)), p[0]))
        out[label] = tuple(list(col) for col in zip(*points))
    return out


def metric_vs_param(sweep, param: str, metric: str):
    """One panel: ``metric`` against ``param``; seeds as error bars."""
    table = sweep.table()
    fig, ax = new_figure()
    numeric = all(isinstance(e["values"][param], (int, float)) for e in table)
    for label, (x, mean, std) in series(table, param, metric).items():
        xs = x if numeric else [str(v) for v in x]
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=label or None)
    if numeric and _spans_decades([e["values"][param] for e in table]):
        ax.set_xscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    if any(label for label in series(table, param, metric)):
        ax.legend(fontsize="small")
    seeds = sorted({s for e in table for s in e["seeds"]})
    name = sweep.summary.get("name", sweep.path.name)
    ax.set_title(f"{name}: {metric} against {param}, seeds {_span(seeds)}", fontsize="medium")
    return fig


def _spans_decades(values) -> bool:
    v = np.asarray([x for x in values if x is not None], float)
    return bool(len(v) > 2 and np.all(v > 0) and v.max() / v.min() >= 100)


def _span(seeds: list) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))
