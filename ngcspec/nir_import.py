"""NIR graph -> ngcspec circuit file: the import half of :mod:`ngcspec.nir` (which states
the mapping). A graph written by ngcspec is restored from its metadata; any other graph is
translated node by node, and a node ngcspec cannot express is a located error."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ngcspec.errors import NgcspecError
from ngcspec.nir import (CONV_KINDS, DEFAULT_DT, DEFAULT_STEPS, DENSE_KINDS, FORMAT, INLINE_LIMIT,
                         _fingerprint, _meta, _nir, _problem)


@dataclass
class Imported:
    """A circuit file made from a NIR graph: ``data`` (arrays inline, as numpy arrays),
    the warnings to show, and the folder relative data paths of a restored file refer to."""

    data: dict
    warnings: list[str] = field(default_factory=list)
    origin_dir: str | None = None
    restored: bool = False      # the file ngcspec exported, rather than a translation

    def yaml_text(self, arrays_file: str | None = None, target_dir: str | None = None) -> tuple[str, dict]:
        """(YAML text, {key: array} for ``arrays_file``): arrays up to INLINE_LIMIT numbers
        are written inline, larger ones are referenced in ``arrays_file`` (an .npz)."""
        import yaml
        data = json.loads(json.dumps(self.data, default=_no_arrays))   # a deep copy
        if self.origin_dir and target_dir:
            _move_paths(data, Path(self.origin_dir), Path(target_dir))
        stored: dict[str, np.ndarray] = {}
        for cname, entry in self.data["components"].items():
            for comp, v in (entry.get("init") or {}).items():
                if not isinstance(v, np.ndarray):
                    continue
                if v.size <= INLINE_LIMIT or arrays_file is None:
                    data["components"][cname]["init"][comp] = v.tolist()
                else:
                    stored[f"{cname}.{comp}"] = v
                    data["components"][cname]["init"][comp] = {"file": arrays_file, "key": f"{cname}.{comp}"}
        head = f"# {data.get('description') or 'a circuit made from a NIR graph'}\n"
        return head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100), stored

    def write(self, path: str | os.PathLike) -> list[Path]:
        """Write the circuit file (and ``<stem>.npz`` beside it for large arrays)."""
        path = Path(path)
        npz = path.with_suffix(".npz")
        text, stored = self.yaml_text(npz.name, str(path.resolve().parent))
        written = [path]
        if stored:
            _atomic(npz, lambda fh: np.savez(fh, **stored))
            written.append(npz)
        _atomic(path, lambda fh: fh.write(text.encode()))
        return written

    def load(self):
        """The circuit itself (arrays inline), for the Python API."""
        from ngcspec.circuit import load
        return load(self.yaml_text(None, os.getcwd())[0])


def _no_arrays(v):
    if isinstance(v, np.ndarray):
        return None   # replaced by yaml_text
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot write {type(v).__name__}")


def _atomic(path: Path, write_fn) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write_fn(fh)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise NgcspecError(f"cannot write {path}: {exc.strerror or exc}") from None


def _move_paths(node, origin: Path, target: Path) -> None:
    """Relative file paths of a restored file, rewritten to name the same files from the
    folder the new file is written to."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("file", "stimulus") and isinstance(v, str) and not Path(v).is_absolute():
                node[k] = os.path.relpath(origin / v, target)
            else:
                _move_paths(v, origin, target)
    elif isinstance(node, list):
        for v in node:
            _move_paths(v, origin, target)


def from_nir(graph, *, dt: float | None = None, name: str | None = None,
             source: str = "<graph>", steps: int = DEFAULT_STEPS) -> Imported:
    """A circuit file from a ``nir.NIRGraph`` (see the module notes for the mapping).

    ``dt`` (ms, in the time unit of the graph's time constants) defaults to the file's own
    when the graph was written by ngcspec, else to DEFAULT_DT. A node ngcspec cannot express
    is a :class:`NirError` naming it."""
    nir = _nir()
    if dt is not None and not (isinstance(dt, (int, float)) and 0 < dt <= 1e6):
        raise NgcspecError(f"dt must be a positive number of ms, got {dt!r}")
    meta = _meta(graph)
    if meta and meta.get("format") == FORMAT and _same_structure(graph, meta):
        out = _restore(nir, graph, meta, source)
    else:
        out = _translate(nir, graph, source, name, steps)
        if meta:
            out.warnings.insert(0, "the graph was changed outside ngcspec (nodes or edges differ "
                                   "from its ngcspec metadata): built from its NIR content only; "
                                   "the metadata's plasticity, data and schedule are dropped")
    if dt is None and "dt" not in out.data and not out.restored:
        dt = DEFAULT_DT
        out.warnings.append(f"NIR carries no time step: dt = {DEFAULT_DT:g} ms (give --dt in the "
                            "time unit of the graph's time constants)")
    if dt is not None:   # placed after the name and description, where files keep it
        head = {k: out.data.pop(k) for k in ("ngcspec", "name", "description") if k in out.data}
        out.data = {**head, "dt": float(dt), **{k: v for k, v in out.data.items() if k != "dt"}}
    return out


def _same_structure(graph, meta) -> bool:
    types = {n: type(v).__name__ for n, v in graph.nodes.items()}
    return types == {n: t for n, (t, _) in meta["nodes"].items()} and \
        {tuple(e) for e in graph.edges} == {tuple(e) for e in meta["edges"]}


def _restore(nir, graph, meta, source) -> Imported:
    """The ngcspec file the graph was exported from; a node another tool changed is
    rebuilt from its NIR values, keeping the ngcspec-only settings of its entry."""
    data = dict(meta["file"])
    kept = data.pop("components")
    components, notes = {}, []
    for cname in meta["order"]:
        if cname in kept:
            components[cname] = kept[cname]
            continue
        node = graph.nodes[cname]
        m = _meta(node) or {}
        old = m.get("entry")
        if old is not None and m.get("fingerprint") == _fingerprint(node):
            components[cname] = old
            continue
        parts = _node_entries(nir, cname, node, graph, source).entries
        if len(parts) != 1:  # pragma: no cover - ngcspec exports one component per node
            raise _problem(source, cname, "a changed node no longer maps to one component")
        components[cname] = _merge(old or {}, parts[0][1])
        notes.append(cname)
    data = {**{k: v for k, v in data.items() if k in ("ngcspec", "name", "description", "dt", "seed", "dtype")},
            "components": components, **{k: v for k, v in data.items() if k not in
                                         ("ngcspec", "name", "description", "dt", "seed", "dtype")}}
    out = Imported(data, origin_dir=meta.get("base_dir"), restored=True)
    if notes:
        out.warnings.append(f"changed outside ngcspec, rebuilt from their NIR values: "
                            f"{', '.join(notes)}")
    return out


#: Settings of a translated kind that NIR does not describe (a foreign graph gets these).
_FOREIGN_DEFAULTS = {"LIFCell": {"tau_theta": 0.0, "refract_time": 0.0},
                     "IFCell": {"v_rest": 0.0, "refract_time": 0.0, "lower_clamp_voltage": False}}


def _merge(old: dict, fresh: dict) -> dict:
    """An entry rebuilt from changed NIR values, keeping what NIR does not describe."""
    fresh = {k: v for k, v in fresh.items() if k not in _FOREIGN_DEFAULTS.get(fresh["kind"], {})}
    kind = old.get("kind")
    if kind in DENSE_KINDS + CONV_KINDS and fresh["kind"] in ("StaticSynapse", "StaticConvSynapse"):
        init = {**(old.get("init") or {}), **fresh["init"]}
        merged = {**old, "resist_scale": 1.0, "init": init}
        if "biases" in init and old.get("bias_init") is None:
            if np.any(init["biases"] != 0):   # biases NIR gave a synapse that had none
                merged["bias_init"] = {"dist": "constant", "value": 0.0}
            else:
                del init["biases"]
        return merged
    if kind != fresh["kind"]:
        return {**fresh, **_FOREIGN_DEFAULTS.get(fresh["kind"], {})}
    merged = {**old, **fresh}
    g = float(old.get("conduct_leak", 1.0))
    if kind == "LIFCell" and g > 0 and g != 1.0:   # NIR's tau = tau_m / g, r = R / g
        merged.update(tau_m=fresh["tau_m"] * g, resist_m=fresh["resist_m"] * g)
    return merged


# ---------------------------------------------------------------------------------------------
# translation of a graph node by node


@dataclass
class _Node:
    """The components one NIR node becomes and the compartments its edges attach to."""

    entries: list[tuple[str, dict]]
    inp: str | None        # 'component.compartment' fed by incoming edges
    out: str | None        # 'component.compartment' read by outgoing edges
    wires: list[str] = field(default_factory=list)   # inside the node (CubaLIF: current -> cell)


class _Reader:
    """Uniform parameters of one node, with errors naming node and field."""

    def __init__(self, source: str, name: str, node):
        self.source, self.name, self.node = source, name, node
        self.type = type(node).__name__

    def fail(self, message: str, hint: str = ""):
        return _problem(self.source, self.name, f"{self.type} node '{self.name}': {message}", hint)

    def array(self, f: str) -> np.ndarray:
        v = getattr(self.node, f, None)
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.fail(f"'{f}' is not numeric") from None
        if a.size == 0 or not np.all(np.isfinite(a)):
            raise self.fail(f"'{f}' must hold finite numbers")
        return a

    def one(self, f: str, positive: bool = False) -> float:
        a = self.array(f)
        if np.any(a != a.flat[0]):
            raise self.fail(f"'{f}' differs across its {a.size} neurons "
                            f"({np.unique(a).size} values); an ngcspec cell has one value per "
                            "population", "split the layer into populations of equal parameters")
        if positive and a.flat[0] <= 0:
            raise self.fail(f"'{f}' is {a.flat[0]:g}; ngcspec needs a positive value here")
        return float(a.flat[0])

    def unit(self, f: str) -> dict:
        """n_units (and the (H, W, C) shape of a (C, H, W) population)."""
        shape = tuple(int(d) for d in self.array(f).shape) or (1,)
        if len(shape) == 1:
            return {"n_units": shape[0]}
        if len(shape) == 3:
            c, h, w = shape
            return {"n_units": c * h * w, "shape": [h, w, c]}
        raise self.fail(f"a population of shape {shape}; ngcspec holds (n,) or (C, H, W)")


def _lif(rd: _Reader, tau: str) -> dict:
    return {"kind": "LIFCell", **rd.unit("v_threshold"), "tau_m": rd.one(tau, True),
            "resist_m": rd.one("r", True), "thr": rd.one("v_threshold"),
            "v_rest": rd.one("v_leak"), "v_reset": rd.one("v_reset"),
            **_FOREIGN_DEFAULTS["LIFCell"]}


def _leaky(rd: _Reader, tau: str) -> dict:
    if rd.one("v_leak") != 0.0:
        raise rd.fail(f"v_leak is {rd.one('v_leak'):g}; ngcspec's rate cells leak towards 0",
                      "shift the graph's voltages so that v_leak is 0")
    return {"kind": "RateCell", **rd.unit(tau), "tau_m": rd.one(tau, True),
            "prior": ["gaussian", 1.0], "resist_scale": rd.one("r")}


# Complexity over 10 on purpose: a flat dispatch, one branch per NIR node type.
def _node_entries(nir, name: str, node, graph, source: str, nir_name: str | None = None) -> _Node:  # noqa: C901
    """The components of node ``nir_name`` (named ``name`` in ngcspec)."""
    rd = _Reader(source, nir_name or name, node)
    if isinstance(node, nir.LIF):
        return _Node([(name, _lif(rd, "tau"))], f"{name}.j", f"{name}.s")
    if isinstance(node, nir.IF):
        entry = {"kind": "IFCell", **rd.unit("v_threshold"), "tau_m": 1.0,
                 "resist_m": rd.one("r", True), "thr": rd.one("v_threshold"),
                 "v_reset": rd.one("v_reset"), **_FOREIGN_DEFAULTS["IFCell"]}
        return _Node([(name, entry)], f"{name}.j", f"{name}.s")
    if isinstance(node, nir.LI):
        return _Node([(name, _leaky(rd, "tau"))], f"{name}.j", f"{name}.zF")
    if isinstance(node, nir.I):
        entry = {"kind": "RateCell", **rd.unit("r"), "tau_m": 1.0, "prior": ["gaussian", 0.0],
                 "resist_scale": rd.one("r")}
        return _Node([(name, entry)], f"{name}.j", f"{name}.zF")
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        syn = f"{name}_syn"
        current = {"kind": "RateCell", **rd.unit("tau_syn"), "tau_m": rd.one("tau_syn", True),
                   "prior": ["gaussian", 1.0], "resist_scale": rd.one("w_in")}
        cell = _lif(rd, "tau_mem") if isinstance(node, nir.CubaLIF) else _leaky(rd, "tau_mem")
        out = f"{name}.s" if isinstance(node, nir.CubaLIF) else f"{name}.zF"
        return _Node([(syn, current), (name, cell)], f"{syn}.j", out,
                     [f"{syn}.zF -> {name}.j"])
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise rd.fail(f"weight of shape {w.shape}; ngcspec's dense synapse takes (out, in)")
        init = {"weights": np.ascontiguousarray(w.T).astype(np.float32)}
        if isinstance(node, nir.Affine):
            b = np.broadcast_to(np.asarray(node.bias, np.float32), (w.shape[0],))
            init["biases"] = np.ascontiguousarray(b)
        entry = {"kind": "StaticSynapse", "shape": [int(w.shape[1]), int(w.shape[0])], "init": init}
        return _Node([(name, entry)], f"{name}.inputs", f"{name}.outputs")
    if isinstance(node, nir.Conv2d):
        return _Node([(name, _conv(rd, node))], f"{name}.inputs", f"{name}.outputs")
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return _Node([(name, _pool(rd, node, graph))], f"{name}.inputs", f"{name}.outputs")
    if isinstance(node, nir.Threshold):
        entry = {"kind": "ThresholdCell", **rd.unit("threshold"), "thr": rd.one("threshold")}
        return _Node([(name, entry)], f"{name}.j", f"{name}.s")
    if isinstance(node, nir.Flatten):
        return _flatten(rd, name, node, graph)
    if isinstance(node, nir.Input):
        shape = np.asarray(node.input_type["input"]).astype(int)
        entry = {"kind": "RateCell", **_unit(rd, shape), "tau_m": 0.0}
        return _Node([(name, entry)], None, f"{name}.zF")
    hints = {"Delay": "ngcspec delays a wire by one step with '~>'",
             "NIRGraph": "flatten the subgraph into the parent graph"}
    raise rd.fail("has no ngcspec equivalent", hints.get(rd.type, "ngcspec imports LIF, IF, LI, "
                  "I, CubaLIF, CubaLI, Affine, Linear, Scale, Conv2d, SumPool2d, AvgPool2d, "
                  "Threshold, Flatten, Input and Output nodes"))


def _flatten(rd: _Reader, name: str, node, graph) -> _Node:
    """A (C, H, W) image flattened whole becomes a Flatten in NIR's C-major order; a flat
    input passes through unchanged (a stateless RateCell)."""
    given = node.input_type.get("input")
    shape = (tuple(int(d) for d in np.atleast_1d(given)) if given is not None
             else _input_shape(rd, graph))
    nd = len(shape)
    start, end = int(node.start_dim), int(node.end_dim)
    first, last = start + nd if start < 0 else start, end + nd if end < 0 else end
    if not 0 <= first <= last < nd:
        raise rd.fail(f"start_dim {start} / end_dim {end} do not fit its input shape {shape}")
    out = shape[:first] + (int(np.prod(shape[first:last + 1])),) + shape[last + 1:]
    if nd == 1:
        entry = {"kind": "RateCell", "n_units": shape[0], "tau_m": 0.0}
        return _Node([(name, entry)], f"{name}.j", f"{name}.zF")
    if nd != 3 or len(out) != 1:
        raise rd.fail(f"flattens {shape} to {out}; ngcspec flattens a whole (C, H, W) image to "
                      "one vector", "flatten every dimension (start_dim 0, end_dim -1)")
    c, h, w = shape
    entry = {"kind": "Flatten", "shape": [h, w, c], "order": "chw"}
    return _Node([(name, entry)], f"{name}.inputs", f"{name}.outputs")


def _input_shape(rd: _Reader, graph) -> tuple[int, ...]:
    """The one output shape of the nodes that feed node ``rd.name``."""
    preds = [a for a, b in graph.edges if b == rd.name]
    shapes = {tuple(np.asarray(graph.nodes[a].output_type.get("output")).astype(int).tolist())
              for a in preds if graph.nodes[a].output_type.get("output") is not None}
    if len(shapes) != 1:
        raise rd.fail("its input shape cannot be told from the nodes before it",
                      "give the node its input_type")
    return next(iter(shapes))


def _unit(rd: _Reader, shape) -> dict:
    shape = tuple(int(d) for d in np.atleast_1d(shape))
    if len(shape) == 1:
        return {"n_units": shape[0]}
    if len(shape) == 3:
        c, h, w = shape
        return {"n_units": c * h * w, "shape": [h, w, c]}
    raise rd.fail(f"shape {shape}; ngcspec holds (n,) or (C, H, W)")


def _pair(rd: _Reader, v, what: str) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).astype(int).tolist()
    if len(a) == 1:
        a = a * 2
    if len(a) != 2:
        raise rd.fail(f"{what} {v!r}; expected one number or two")
    return int(a[0]), int(a[1])


def _padding(rd: _Reader, padding, size, kernel, stride) -> str:
    """SAME or VALID: the lax padding that equals NIR's (PyTorch's) explicit one."""
    if isinstance(padding, (str, bytes)):
        padding = padding.decode() if isinstance(padding, bytes) else padding
        if padding == "valid":
            return "VALID"
        if padding == "same" and stride == (1, 1):
            return "SAME"
        raise rd.fail(f"padding '{padding}' with stride {stride}")
    pad = _pair(rd, padding, "padding")
    if pad == (0, 0):
        return "VALID"
    same = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(size, kernel, stride)]
    if all(t % 2 == 0 and t // 2 == p for t, p in zip(same, pad)):
        return "SAME"
    raise rd.fail(f"padding {pad}: ngcspec pads SAME (as lax: {[t // 2 for t in same]} here) or "
                  "VALID (0)", "re-export the layer with padding 0 or 'same'")


def _conv(rd: _Reader, node) -> dict:
    w = np.asarray(node.weight)
    if w.ndim != 4:
        raise rd.fail(f"weight of shape {w.shape}; expected (C_out, C_in, k_h, k_w)")
    if node.input_shape is None:
        raise rd.fail("no input_shape", "give Conv2d its input_shape (H, W)")
    if int(node.groups) != 1 or _pair(rd, node.dilation, "dilation") != (1, 1):
        raise rd.fail("grouped or dilated convolution", "ngcspec convolves with groups 1, dilation 1")
    size, stride = _pair(rd, node.input_shape, "input_shape"), _pair(rd, node.stride, "stride")
    c_out, c_in, kh, kw = (int(d) for d in w.shape)
    bias = np.broadcast_to(np.asarray(node.bias, np.float32), (c_out,))
    return {"kind": "StaticConvSynapse", "shape": [kh, kw, c_in, c_out], "x_shape": list(size),
            "stride": list(stride), "padding": _padding(rd, node.padding, size, (kh, kw), stride),
            "init": {"weights": np.ascontiguousarray(w.transpose(2, 3, 1, 0)).astype(np.float32),
                     "biases": np.ascontiguousarray(bias)}}


def _pool(rd: _Reader, node, graph) -> dict:
    """A pool as a convolution whose kernel joins each channel only to itself."""
    shape = _input_shape(rd, graph)
    if len(shape) != 3:
        raise rd.fail(f"its input shape {shape} is not an image (C, H, W)")
    c, h, w = shape
    k, stride = _pair(rd, node.kernel_size, "kernel_size"), _pair(rd, node.stride, "stride")
    kernel = np.zeros((k[0], k[1], c, c), np.float32)
    value = 1.0 / (k[0] * k[1]) if type(node).__name__ == "AvgPool2d" else 1.0
    kernel[:, :, np.arange(c), np.arange(c)] = value
    return {"kind": "StaticConvSynapse", "shape": [k[0], k[1], c, c], "x_shape": [h, w],
            "stride": list(stride), "padding": _padding(rd, node.padding, (h, w), k, stride),
            "init": {"weights": kernel, "biases": np.zeros(c, np.float32)}}


def _ident(name: str, taken: set) -> str:
    out = re.sub(r"\W", "_", str(name)) or "node"
    if not re.match(r"[A-Za-z_]", out):
        out = f"n_{out}"
    base, i = out, 1
    while out in taken:
        i += 1
        out = f"{base}_{i}"
    taken.add(out)
    return out


# ---------------------------------------------------------------------------------------------
# translation of the graph


# Complexity over 10 on purpose: graph walk with one located error per unsupported NIR shape; the
# checks read best next to the walk they guard.
def _translate(nir, graph, source: str, name: str | None, steps: int) -> Imported:  # noqa: C901
    nodes = graph.nodes
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in graph.edges:
        if a not in nodes or b not in nodes:
            missing = a if a not in nodes else b
            raise _problem(source, "", f"edge ({a!r}, {b!r}) names no node '{missing}'")
        preds[b].append(a)
        succs[a].append(b)
    factor, rows = _scale_factors(nir, graph, preds, succs, source)
    taken: set[str] = set()
    ids = {n: _ident(n, taken) for n in nodes}
    made: dict[str, _Node] = {}
    for n, node in nodes.items():
        if isinstance(node, (nir.Scale, nir.Output)):
            continue
        if isinstance(node, nir.Input) and preds[n]:
            raise _problem(source, n, f"Input node '{n}' is fed by {', '.join(preds[n])}")
        made[n] = _node_entries(nir, ids[n], node, graph, source, n)
        for cname, _ in made[n].entries[:-1]:   # helper components (a CubaLIF's current)
            if cname in taken and cname != ids[n]:
                raise _problem(source, n, f"node '{n}' needs the name '{cname}', which another node has")
            taken.add(cname)
        if n in rows:   # a per-neuron Scale after this Affine/Linear, folded into its rows
            init = made[n].entries[0][1]["init"]
            init["weights"] = (init["weights"] * rows[n][None, :]).astype(np.float32)
            if "biases" in init:
                init["biases"] = (init["biases"] * rows[n]).astype(np.float32)

    def sources(b, depth=0):
        for p in preds[b]:
            if isinstance(nodes[p], nir.Output):
                raise _problem(source, p, f"Output node '{p}' feeds '{b}'")
            if isinstance(nodes[p], nir.Scale):
                if depth > len(nodes):
                    raise _problem(source, p, "a loop of Scale nodes")
                yield from ((a, f * factor[p]) for a, f in sources(p, depth + 1))
            else:
                yield p, 1.0

    links = [(a, b, f) for b in made for a, f in sources(b)]
    delayed = _back_edges(nir, nodes, [(a, b) for a, b, _ in links])
    wires = [w for m in made.values() for w in m.wires]
    for a, b, f in links:
        if made[b].inp is None:
            continue
        scale = "" if f == 1.0 else f"{f!r} * "
        wires.append(f"{scale}{made[a].out} {'~>' if (a, b) in delayed else '->'} {made[b].inp}")
    record = {made[a].out: "per_step" for n, node in nodes.items() if isinstance(node, nir.Output)
              for a, _ in sources(n)}
    components = {c: e for m in made.values() for c, e in m.entries}
    inputs = [made[n].out.split(".")[0] for n, node in nodes.items() if isinstance(node, nir.Input)]
    stem = re.sub(r"[^\w.-]", "-", Path(source).stem) if source != "<graph>" else "nir-graph"
    data = {"ngcspec": 1, "name": name or stem or "nir-graph",
            "description": f"imported from the NIR graph {Path(source).name}",
            "components": components, "wires": wires,
            "schedule": ["reset", {"advance": int(steps)}]}
    if record:
        data["run"] = {"record": record}
    out = Imported(data)
    if inputs:
        out.warnings.append(f"clamp the graph's input(s) {', '.join(f'{i}.j' for i in inputs)} "
                            "with your data (a 'clamps' entry); they read 0 until then")
    if delayed:
        out.warnings.append(f"{len(delayed)} edge(s) closing a loop read the previous step ('~>')")
    return out


def _scale_factors(nir, graph, preds, succs, source):
    """Each Scale node's uniform factor (a per-neuron one after an Affine/Linear that feeds
    only it is folded into that node's rows: ``rows``)."""
    factor: dict[str, float] = {}
    rows: dict[str, np.ndarray] = {}
    for n, node in graph.nodes.items():
        if not isinstance(node, nir.Scale):
            continue
        s = _Reader(source, n, node).array("scale")
        if np.all(s == s.flat[0]):
            factor[n] = float(s.flat[0])
            continue
        p = preds[n]
        if len(p) == 1 and isinstance(graph.nodes[p[0]], (nir.Affine, nir.Linear)) \
                and succs[p[0]] == [n] and s.ndim == 1:
            rows[p[0]] = s.astype(np.float32)
            factor[n] = 1.0
            continue
        raise _problem(source, n, f"Scale node '{n}' scales each neuron differently and does "
                       "not follow an Affine or Linear node it could be folded into",
                       "ngcspec wires carry one scale factor")
    return factor, rows


def _back_edges(nir, nodes, edges) -> set[tuple[str, str]]:
    """Edges that read the previous step: on each loop, the edges leaving a neuron (as a
    spiking circuit delays its synapses' input); loops without one, the edges a depth-first
    walk from the Input nodes finds closing them."""
    import networkx as nx
    g = nx.DiGraph(edges)
    neurons = (nir.LIF, nir.IF, nir.LI, nir.I, nir.CubaLIF, nir.CubaLI)
    delayed = set()
    for scc in nx.strongly_connected_components(g):
        delayed |= {(a, b) for a, b in edges if a in scc and b in scc and a != b
                    and isinstance(nodes[a], neurons)}
    delayed |= {(a, a) for a, b in edges if a == b}
    rest = nx.DiGraph([e for e in edges if e not in delayed])
    starts = [n for n, v in nodes.items() if isinstance(v, nir.Input)] + list(nodes)
    state: dict[str, int] = {}   # 1 on the walk's path, 2 done
    for start in starts:
        if start in state or start not in rest:
            continue
        stack = [(start, iter(list(rest.successors(start))))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                delayed.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(list(rest.successors(nxt)))))
    return delayed
