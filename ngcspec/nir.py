"""Exchange with NIR, the Neuromorphic Intermediate Representation (``pip install -e ".[nir]"``).

``to_nir(circuit)`` gives the static network of a circuit as a ``nir.NIRGraph``;
``from_nir(graph, dt=...)`` gives a circuit file (as a dict) back. NIR describes neurons by
continuous-time equations and leaves the time step to the simulator; ngcspec steps them with
forward Euler at the file's ``dt``, so an imported graph runs NIR's equations

    LIF      tau dv/dt = (v_leak - v) + r I,  spike where v > v_threshold, then v = v_reset
    IF       dv/dt = r I,                     same spike and reset
    LI       tau dv/dt = (v_leak - v) + r I   (v_leak 0: ngcspec's rate cells leak to 0)
    I        dv/dt = r I
    CubaLIF  tau_syn dI/dt = -I + w_in S, then the LIF equation on I (CubaLI: the LI one)
    Affine   W x + b, Linear W x, Scale s * x, Conv2d, SumPool2d / AvgPool2d
    Threshold  z = 1 where x - theta > 0, else 0 (no membrane)
    Flatten  a (C, H, W) image to C*H*W values, C-major

as these kinds: LIF -> LIFCell (tau_m = tau, resist_m = r, v_rest = v_leak, thr =
v_threshold, no refractory period, no adaptation), IF -> IFCell (tau_m 1, resist_m r, no
lower clamp), LI / I -> RateCell, CubaLIF / CubaLI -> a RateCell ``<name>_syn`` (the synaptic
current) wired into the cell, Affine / Linear -> StaticSynapse (NIR's weight is (out, in),
ngcspec's (in, out)), Conv2d and the pools -> StaticConvSynapse (OIHW -> HWIO; a pool is a
convolution with a per-channel kernel of ones, or of 1/k for the average), Scale -> the scale
of the wires it sits on, Threshold -> ThresholdCell, Flatten -> Flatten with order ``chw``
(so the dense weights after it stay NIR's; an ``hwc`` Flatten has no NIR node and stays in
the graph's metadata), Input -> a stateless RateCell whose ``j`` the user clamps, Output ->
a ``per_step`` record. Image layouts differ: NIR is (C, H, W), ngcspec (H, W, C). Edges that
close a loop become ``~>`` wires (read the previous step); the others ``->``.

A circuit holds more than NIR can say (plasticity, traces, error cells, encoders,
refractoriness, adaptive thresholds, data, clamps, schedule). Export writes the static network
and carries the rest as JSON in metadata: each node keeps its component's entry and a
fingerprint of the arrays it was exported with; the graph keeps the rest of the file. Import
restores an entry whose node is unchanged and rebuilds, from NIR's values, one that another
tool changed (keeping the ngcspec-only settings), so ngcspec -> NIR -> ngcspec gives the same
file. What other tools will not see is reported as a :class:`NirWarning`.

Everything here works on numpy arrays; export alone imports JAX (to draw the initial
weights exactly as a run does).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ngcspec.errors import CircuitError, NgcspecError, Problem

#: Time step (ms) given to an imported graph whose file says none (NIR carries no time step).
DEFAULT_DT = 1.0
#: Steps per reset in the schedule of an imported graph.
DEFAULT_STEPS = 100
#: Arrays up to this many numbers are written into the circuit file; larger ones go to an .npz.
INLINE_LIMIT = 64
META = "ngcspec"
FORMAT = 1

DENSE_KINDS = ("DenseSynapse", "StaticSynapse", "HebbianSynapse", "TraceSTDPSynapse",
               "ExpSTDPSynapse", "EventSTDPSynapse", "BCMSynapse", "MSTDPETSynapse")
CONV_KINDS = ("ConvSynapse", "StaticConvSynapse", "HebbianConvSynapse", "TraceSTDPConvSynapse")
#: (main input, main output) compartment of each kind that NIR can hold.
PORTS = {"LIFCell": ("j", "s"), "IFCell": ("j", "s"), "RateCell": ("j", "zF"),
         "ThresholdCell": ("j", "s"), "Flatten": ("inputs", "outputs"),
         **{k: ("inputs", "outputs") for k in DENSE_KINDS + CONV_KINDS}}


class NirWarning(UserWarning):
    """Something of the circuit that other NIR tools will not see."""


class NirError(CircuitError):
    """A NIR graph (or file) that ngcspec cannot express, located by node name."""


def _nir():
    try:
        import nir
    except ImportError:
        raise NgcspecError('NIR exchange needs the nir package: pip install -e ".[nir]"') from None
    return nir


def _problem(where: str, node: str, message: str, hint: str = "") -> NirError:
    return NirError([Problem(message, where, path=f"nodes.{node}" if node else "", hint=hint)])


# ---------------------------------------------------------------------------------------------
# small helpers


def _nir_layout(unit: tuple[int, ...]) -> tuple[int, ...]:
    """NIR's shape of a population: (n,) or, for an (H, W, C) image, (C, H, W)."""
    return unit if len(unit) == 1 else (unit[2], unit[0], unit[1])


def _full(unit, value) -> np.ndarray:
    return np.full(_nir_layout(tuple(unit)), float(value), dtype=np.float64)


def _fingerprint(node) -> str:
    """A hash of what a node says (its fields but metadata), stable across an .nir file."""
    h = hashlib.sha256(type(node).__name__.encode())
    for f in fields(node):
        if f.name in ("metadata", "input_type", "output_type"):
            continue
        v = getattr(node, f.name)
        h.update(f.name.encode())
        if isinstance(v, str):
            h.update(v.encode())
            continue
        a = np.ascontiguousarray(np.asarray(v))
        h.update(f"{a.dtype.kind}{a.dtype.itemsize}{a.shape}".encode())
        h.update(a.astype(a.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def _meta(node) -> dict | None:
    raw = (getattr(node, "metadata", None) or {}).get(META)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        return json.loads(str(raw))
    except ValueError:
        return None


def _plain(v):
    """JSON-able copy of a file value (tuples to lists)."""
    return json.loads(json.dumps(v))


# ---------------------------------------------------------------------------------------------
# export


@dataclass
class _Exported:
    node: Any
    lost: list[str] = field(default_factory=list)   # what other tools will not see


def _cell_notes(p, kind: str) -> list[str]:
    lost = []
    if getattr(p, "refract_time", 0) > 0:
        lost.append(f"refractory period ({p.refract_time:g} ms)")
    if kind == "LIFCell":
        if p.tau_theta > 0:
            lost.append(f"adaptive threshold (tau_theta {p.tau_theta:g}, theta_plus {p.theta_plus:g})")
        if p.max_one_spike or p.one_spike:
            lost.append("one spike per step (one_spike / max_one_spike)")
        if p.v_min is not None:
            lost.append(f"voltage floor v_min {p.v_min:g}")
    if kind == "IFCell" and p.lower_clamp_voltage:
        lost.append(f"voltage floor at v_rest {p.v_rest:g} (lower_clamp_voltage)")
    if getattr(p, "integration_type", "euler") not in ("euler", "rk1"):
        lost.append(f"{p.integration_type} integration (NIR leaves the integrator to the tool)")
    return lost


def _export_lif(nir, rc, s) -> _Exported:
    p, unit = rc.params, rc.shapes["v"]
    lost = _cell_notes(p, rc.kind.kind)
    theta = np.asarray(s["thr_theta"], np.float64).mean(axis=0)  # per unit, over the batch
    thr = np.transpose(p.thr + theta, (2, 0, 1)) if theta.ndim == 3 else p.thr + theta
    g = p.conduct_leak
    if g > 0:  # tau_m dv/dt = g (v_rest - v) + R j  ==  (tau_m/g) dv/dt = (v_rest - v) + (R/g) j
        node = nir.LIF(tau=_full(unit, p.tau_m / g), r=_full(unit, p.resist_m / g),
                       v_leak=_full(unit, p.v_rest), v_threshold=thr, v_reset=_full(unit, p.v_reset))
    else:      # no leak: dv/dt = (R / tau_m) j
        node = nir.IF(r=_full(unit, p.resist_m / p.tau_m), v_threshold=thr,
                      v_reset=_full(unit, p.v_reset))
    return _Exported(node, lost)


def _export_if(nir, rc, s) -> _Exported:
    p, unit = rc.params, rc.shapes["v"]
    node = nir.IF(r=_full(unit, p.resist_m / p.tau_m), v_threshold=_full(unit, p.thr),
                  v_reset=_full(unit, p.v_reset))
    return _Exported(node, _cell_notes(p, "IFCell"))


def _export_rate(nir, rc, s, wired: set) -> _Exported | None:
    p, unit = rc.params, rc.shapes["z"]
    if p.act_fx != "identity" or p.output_scale != 1.0 or (rc.name, "j_td") in wired:
        return None
    stateless = p.tau_m <= 0 or not p.is_stateful
    if stateless:  # z = j: a pass-through, NIR's Input when nothing drives it
        return None if (rc.name, "j") in wired else _Exported(nir.Input(
            input_type={"input": np.array(_nir_layout(unit))}))
    if p.prior.name != "gaussian" or p.threshold.name != "none":
        return None
    lost = _cell_notes(p, "RateCell")
    leak = p.prior.leak  # tau dz/dt = -leak z + rs j
    if leak > 0:
        node = nir.LI(tau=_full(unit, p.tau_m / leak), r=_full(unit, p.resist_scale / leak),
                      v_leak=_full(unit, 0.0))
    else:
        node = nir.I(r=_full(unit, p.resist_scale / p.tau_m))
    return _Exported(node, lost)


def _export_dense(nir, rc, s) -> _Exported:
    p = rc.params
    w = np.asarray(s["weights"]) * np.asarray(s.get("mask", 1.0)).astype(np.asarray(s["weights"]).dtype)
    if p.resist_scale != 1.0:
        w = w * np.asarray(p.resist_scale, w.dtype)
    b = np.asarray(s["biases"])
    lost = []
    if rc.kind.plastic:
        lost.append(f"{rc.kind.kind} plasticity (the weights are exported as they start)")
    if rc.tie is not None:
        lost.append(f"the tie to {rc.tie.to}")
    if p.bias_init is None and not b.any():
        return _Exported(nir.Linear(weight=np.ascontiguousarray(w.T)), lost)
    return _Exported(nir.Affine(weight=np.ascontiguousarray(w.T), bias=b.copy()), lost)


def _export_conv(nir, rc, s) -> _Exported | None:
    from ngcspec.components.convolution import pair
    p = rc.params
    (kh, kw, _, _), (h, w_), stride = p.shape, pair(p.x_shape), pair(p.stride)
    if p.padding == "VALID":
        padding: Any = (0, 0)
    elif stride == (1, 1):
        padding = "same"   # lax and NIR (PyTorch) put the odd pad at the high end alike
    else:
        pads = [max((-(-n // st) - 1) * st + k - n, 0) for n, k, st in ((h, kh, stride[0]), (w_, kw, stride[1]))]
        if any(t % 2 for t in pads):
            return None    # asymmetric padding: NIR's integer padding is symmetric
        padding = (pads[0] // 2, pads[1] // 2)
    k = np.asarray(s["weights"]) * np.asarray(p.resist_scale, np.asarray(s["weights"]).dtype)
    lost = [f"{rc.kind.kind} plasticity"] if rc.kind.plastic else []
    if rc.tie is not None:
        lost.append(f"the tie to {rc.tie.to}")
    node = nir.Conv2d(input_shape=(h, w_), weight=np.ascontiguousarray(k.transpose(3, 2, 0, 1)),
                      stride=stride, padding=padding, dilation=(1, 1), groups=1,
                      bias=np.asarray(s["biases"]).copy())
    return _Exported(node, lost)


def _export_flatten(nir, rc) -> _Exported | None:
    h, w, c = rc.params.shape
    if rc.params.order != "chw" and c != 1 and h * w != 1:
        return None    # NIR flattens C-major only; hwc is another order unless C or H*W is 1
    return _Exported(nir.Flatten(input_type={"input": np.array([c, h, w])}, start_dim=0,
                                 end_dim=-1))


def _export_component(nir, rc, s, wired: set) -> _Exported | None:
    kind = rc.kind.kind
    if kind == "ThresholdCell":
        return _Exported(nir.Threshold(threshold=_full(rc.shapes["s"], rc.params.thr)))
    if kind == "Flatten":
        return _export_flatten(nir, rc)
    if kind == "LIFCell":
        return _export_lif(nir, rc, s)
    if kind == "IFCell":
        return _export_if(nir, rc, s)
    if kind == "RateCell":
        return _export_rate(nir, rc, s, wired)
    if kind in DENSE_KINDS:
        return _export_dense(nir, rc, s)
    if kind in CONV_KINDS:
        return _export_conv(nir, rc, s)
    return None


def to_nir(circuit, *, warn: bool = True):
    """The static network of ``circuit`` (a :class:`ngcspec.circuit.Circuit`, a path or YAML
    text) as a ``nir.NIRGraph``, with everything else carried in metadata. What other tools
    will not see is reported as :class:`NirWarning` (``warn=False`` keeps quiet)."""
    nir = _nir()
    from ngcspec.circuit import Circuit, load
    if not isinstance(circuit, Circuit):
        circuit = load(circuit)
    r = circuit.resolved
    raw = r.raw
    state = {n: {c: np.asarray(v) for c, v in d.items()} for n, d in circuit.init_state(batch_size=1).items()}
    wired = {(w.dst, w.dst_comp) for w in r.wires}
    nodes: dict[str, Any] = {}
    lost: dict[str, list[str]] = {}
    for name, rc in r.components.items():
        made = _export_component(nir, rc, state[name], wired)
        if made is None:
            continue
        made.node.metadata = {META: json.dumps({
            "component": name, "entry": _plain(raw["components"][name]),
            "fingerprint": _fingerprint(made.node)})}
        nodes[name] = made.node
        lost[name] = made.lost
    edges, delayed = _export_edges(nir, r, nodes)
    roles = {n: "component" for n in nodes}
    _add_ends(nir, nodes, edges, roles)
    rest = {k: _plain(v) for k, v in raw.items() if k != "components"}
    rest["components"] = {n: _plain(e) for n, e in raw["components"].items() if n not in roles}
    graph_meta = {"format": FORMAT, "file": rest, "order": list(raw["components"]),
                  "base_dir": str(r.base_dir), "nodes": {n: [type(v).__name__, roles[n]] for n, v in nodes.items()},
                  "edges": [list(e) for e in edges]}
    try:
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={META: json.dumps(graph_meta)})
    except (ValueError, AssertionError) as exc:  # pragma: no cover - shapes were checked by resolve
        raise NgcspecError(f"NIR refused the exported graph of {r.file}: {exc}") from None
    if warn:
        for message in export_warnings(r, lost, delayed):
            warnings.warn(message, NirWarning, stacklevel=2)
    return graph


def _export_edges(nir, r, nodes) -> tuple[list[tuple[str, str]], int]:
    """NIR edges for the wires from a node's main output to another's main input; a wire's
    scale becomes a Scale node. Returns (edges, number of '~>' wires among them)."""
    edges: list[tuple[str, str]] = []
    delayed = 0
    for w in r.wires:
        if w.src not in nodes or w.dst not in nodes or isinstance(nodes[w.dst], nir.Input):
            continue
        if PORTS[r.components[w.src].kind.kind][1] != w.src_comp or \
                PORTS[r.components[w.dst].kind.kind][0] != w.dst_comp:
            continue
        delayed += w.delayed
        if w.scale is None and (w.src, w.dst) not in edges:
            edges.append((w.src, w.dst))
            continue
        name = _free(nodes, f"{w.src}_{w.dst}_scale")
        shape = r.components[w.src].shapes[w.src_comp]
        nodes[name] = nir.Scale(scale=_full(shape, 1.0 if w.scale is None else w.scale))
        edges += [(w.src, name), (name, w.dst)]
    return edges, delayed


def _free(nodes: dict, name: str) -> str:
    out, i = name, 1
    while out in nodes:
        i += 1
        out = f"{name}{i}"
    return out


def _add_ends(nir, nodes: dict, edges: list, roles: dict) -> None:
    """Input nodes before the components nothing in the graph drives, Output nodes after the
    ones that drive nothing (other tools feed and read a graph through them)."""
    fed = {b for _, b in edges}
    feeding = {a for a, _ in edges}
    for name in list(nodes):
        node = nodes[name]
        if isinstance(node, (nir.Input, nir.Scale)):
            continue
        if name not in fed and node.input_type.get("input") is not None:
            src = _free(nodes, f"{name}_input")
            nodes[src] = nir.Input(input_type={"input": np.array(node.input_type["input"])})
            roles[src] = "input"
            edges.append((src, name))
        if name not in feeding and node.output_type.get("output") is not None:
            dst = _free(nodes, f"{name}_output")
            nodes[dst] = nir.Output(output_type={"output": np.array(node.output_type["output"])})
            roles[dst] = "output"
            edges.append((name, dst))
    if not any(r == "output" for r in roles.values()) and nodes:
        # every node sits on a loop: read the last cell of the file (or the last node)
        cells = [n for n, v in nodes.items() if isinstance(v, (nir.LIF, nir.IF, nir.LI, nir.I))]
        last = (cells or [n for n in nodes if n in roles and not isinstance(nodes[n], nir.Input)]
                or list(nodes))[-1]
        dst = _free(nodes, f"{last}_output")
        nodes[dst] = nir.Output(output_type={"output": np.array(nodes[last].output_type["output"])})
        roles[dst] = "output"
        edges.append((last, dst))
    for n in nodes:
        roles.setdefault(n, "scale")


def export_warnings(r, lost: dict[str, list[str]], delayed: int) -> list[str]:
    """What another NIR tool will not see of the circuit ``r``, one message per topic."""
    out = [f"{n} ({r.components[n].kind.kind}): {', '.join(items)} not in NIR; kept in the "
           "node's metadata for ngcspec" for n, items in lost.items() if items]
    absent = [f"{n} ({rc.kind.kind})" for n, rc in r.components.items() if n not in lost]
    if absent:
        out.append(f"no NIR equivalent, kept in the graph's metadata only: {', '.join(absent)}")
    if delayed:
        out.append(f"{delayed} one-step delay(s) ('~>') are plain NIR edges: other tools order "
                   "a step their own way")
    out.append("data, clamps, schedule and run settings are not in NIR (graph metadata only); "
               f"NIR carries no time step: this circuit runs at dt = {r.spec.dt:g} ms")
    return out


def write(graph, path: str | os.PathLike) -> None:
    """Write a NIR graph to an .nir (HDF5) file."""
    _nir().write(str(path), graph)


def read(path: str | os.PathLike):
    """Read a NIR graph from an .nir file; an unreadable file is a located error."""
    nir = _nir()
    p = Path(path)
    if not p.is_file():
        raise _problem(str(p), "", f"no such NIR file: {p}", "check the path")
    try:
        return nir.read(str(p))
    except Exception as exc:  # h5py and nir raise many kinds for a damaged or foreign file
        raise _problem(str(p), "", f"cannot read {p} as a NIR graph: {type(exc).__name__}: {exc}",
                       "write it with nir.write (HDF5, NIR 1.x)") from None


def from_nir(graph, *, dt: float | None = None, name: str | None = None,
             source: str = "<graph>", steps: int = DEFAULT_STEPS):
    """A circuit file (an :class:`ngcspec.nir_import.Imported`) from a ``nir.NIRGraph``; see
    :func:`ngcspec.nir_import.from_nir`."""
    from ngcspec.nir_import import from_nir as _from_nir
    return _from_nir(graph, dt=dt, name=name, source=source, steps=steps)
