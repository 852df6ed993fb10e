"""``ngc report RUN``: one self-contained HTML page per run directory.

The page holds the summary (final metrics, seed, epochs, timings, versions, records), the
circuit as run (its components and the YAML), the execution order drawn as a graph, and
every plot :mod:`ngcspec.plots` picks for the run, each embedded as a base64 PNG, so the file
opens in any browser without a server and can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from ngcspec.plots import plan, render
from ngcspec.plots.context import RunView
from ngcspec.plots.figures import new_figure, png_bytes, require_matplotlib
from ngcspec.rundir import atomic_write_text

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def write_report(run_dir: str | Path, dpi: int = 80) -> Path:
    """Write ``RUN/report.html`` and return its path."""
    require_matplotlib()
    view = RunView.load(run_dir)
    path = Path(run_dir) / "report.html"
    atomic_write_text(path, report_html(view, dpi))
    path.chmod(0o644)          # readable like the rest of the run directory
    return path


def report_html(view: RunView, dpi: int = 80) -> str:
    s = view.summary
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{_e(view.name)}: ngcspec run</title><style>{STYLE}</style></head><body>",
             f"<h1>{_e(view.name)}</h1>",
             f"<p>run <code>{_e(str(view.run.path))}</code>, seed {_e(s.get('seed'))}, "
             f"{_e(s.get('epochs'))} epoch(s), {_e(s.get('dtype', ''))}, "
             f"{_e(_seconds(s.get('timings', {})))}</p>",
             "<h2>Summary</h2>", _metrics_table(s), _records_table(view)]
    parts += ["<h2>Circuit</h2>", _components_table(view)]
    graph = order_graph(view)
    if graph is not None:
        parts.append(_figure(png_bytes(graph, dpi=dpi), "execution order within a step "
                             "(solid: read this step; dashed: '~>' reads the previous step)"))
    parts.append(f"<details><summary>circuit.yaml as run</summary><pre>{_e(view.run.circuit_yaml)}"
                 "</pre></details>")
    parts.append("<h2>Plots</h2>")
    shown = 0
    for job, fig in render(plan(view)):
        parts.append(_figure(png_bytes(fig, dpi=dpi), job.stem))
        shown += 1
    if not shown:
        parts.append("<p>nothing recorded to plot; add <code>record</code> entries or "
                     "metrics to the circuit.</p>")
    parts.append(f"<h2>Versions</h2><pre>{_e(json.dumps(s.get('versions', {}), indent=1))}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def order_graph(view: RunView):
    """Components left to right in execution order; each wire an arc from source to
    reader, above the row when it is read this step, dashed below when delayed."""
    r = view.resolved
    if r is None:
        return None
    order = list(r.order)
    x = {n: i for i, n in enumerate(order)}
    fig, ax = new_figure()
    fig.set_size_inches(max(6.4, 1.1 * len(order)), 3.6)
    from matplotlib.patches import FancyArrowPatch

    for w in r.wires:
        a, b = x[w.src], x[w.dst]
        bend = 0.35 if a != b else 0.9
        rad = (-bend if not w.delayed else bend) * (1 if b >= a else -1)
        ax.add_patch(FancyArrowPatch((a, 0), (b, 0), connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle="-|>", mutation_scale=10, shrinkA=14, shrinkB=14,
                                     ls="--" if w.delayed else "-",
                                     color="C3" if w.delayed else "C0", lw=1))
    for n, i in x.items():
        ax.text(i, 0, f"{i + 1}. {n}\n{r.components[n].kind.kind}", ha="center", va="center",
                fontsize="x-small", bbox={"boxstyle": "round", "fc": "white", "ec": "0.4"})
    ax.set_xlim(-0.7, len(order) - 0.3)
    ax.set_ylim(-1.2, 1.2)
    ax.set_axis_off()
    ax.set_title(view.title("execution order"), fontsize="medium")
    return fig


def _metrics_table(s: dict) -> str:
    rows = [f"<tr><td>{_e(ph)}</td><td>{_e(k)}</td><td class=num>{v:.4g}</td>"
            f"<td>{len(s.get('metrics', {}).get(ph, []))}</td></tr>"
            for ph, m in s.get("final_metrics", {}).items() for k, v in m.items()]
    if not rows:
        return "<p>no metrics</p>"
    return ("<table><tr><th>phase</th><th>metric</th><th>final</th><th>epochs run</th></tr>"
            + "".join(rows) + "</table>")


def _records_table(view: RunView) -> str:
    if not view.records:
        return "<p>no records</p>"
    rows = [f"<tr><td>{_e(r.key)}</td><td>{_e(r.mode)}</td><td>{_e(tuple(np.shape(r.array)))}</td>"
            f"<td>{_e(r.doc)}</td></tr>" for r in view.records]
    return ("<table><tr><th>record</th><th>mode</th><th>shape</th><th>compartment</th></tr>"
            + "".join(rows) + "</table>")


def _components_table(view: RunView) -> str:
    r = view.resolved
    if r is None:
        return "<p>(the circuit could not be resolved again; its YAML is below)</p>"
    rows = []
    for i, n in enumerate(r.order):
        rc = r.components[n]
        shapes = ", ".join(f"{c} {tuple(rc.shapes[c])}" for c, spec in rc.kind.compartments.items()
                           if spec.role in ("weight", "output"))
        rows.append(f"<tr><td class=num>{i + 1}</td><td>{_e(n)}</td><td>{_e(rc.kind.kind)}</td>"
                    f"<td>{_e(shapes)}</td></tr>")
    wires = "".join(f"<li><code>{_e(str(w))}</code></li>" for w in r.wires)
    return ("<table><tr><th>order</th><th>component</th><th>kind</th><th>outputs and weights"
            "</th></tr>" + "".join(rows) + "</table>"
            + (f"<details><summary>{len(r.wires)} wires</summary><ul>{wires}</ul></details>"
               if wires else ""))


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure><img alt=\"{_e(caption)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _seconds(timings: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in timings.items() if isinstance(v, (int, float)))


def _e(v) -> str:
    return html.escape(str(v))
