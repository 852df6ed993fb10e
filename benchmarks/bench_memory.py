"""Memory estimate against measured peak resident memory, one subprocess per circuit.

    python benchmarks/bench_memory.py            # the table in BENCHMARKS.md
    python benchmarks/bench_memory.py --json     # machine-readable (used by tests/test_memory.py)

For each circuit a fresh Python process loads it, runs it, and reports its peak RSS
(``ru_maxrss``); the peak of a trivial circuit (the interpreter, JAX and XLA's own buffers)
is subtracted. The ratio estimate / (peak - trivial) should lie within [1/1.5, 1.5].
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

TRIVIAL = """
ngcspec: 1
name: trivial
components:
  z: {kind: RateCell, n_units: 4, tau_m: 10.0}
schedule: [reset, {advance: 2}]
phases:
  run: {batches: 1, batch_size: 1}
"""

# Three families whose estimate is over 1 GiB: a graded PC layer with a large Hebbian
# synapse (Adam), a spiking layer with a large trace-STDP synapse, and a graded circuit
# whose memory is mostly per-step records.
GRADED = """
ngcspec: 1
name: big-hebbian
components:
  x: {kind: RateCell, n_units: 6000, tau_m: 0.0}
  z: {kind: RateCell, n_units: 6000, tau_m: 10.0, act_fx: tanh}
  W: {kind: HebbianSynapse, shape: [6000, 6000], eta: 0.001, optim_type: adam,
      weight_init: {dist: uniform, low: -0.01, high: 0.01}}
wires:
  - x.zF -> W.inputs
  - W.outputs -> z.j
  - x.zF -> W.pre
  - z.zF -> W.post
clamps: {x.j: {constant: 0.5}}
schedule: [reset, {advance: 4}, {evolve: [W]}]
phases:
  train: {batches: 2, batch_size: 8}
"""

SPIKING = """
ngcspec: 1
name: big-stdp
dt: 1.0
components:
  inp: {kind: PoissonCell, n_units: 8000, target_freq: 63.75}
  W: {kind: TraceSTDPSynapse, shape: [8000, 8000], A_plus: 0.01, A_minus: 0.01, eta: 1.0,
      weight_init: {dist: uniform, low: 0.0, high: 0.3}}
  exc: {kind: LIFCell, n_units: 8000, tau_m: 100.0, thr: -52.0, v_rest: -65.0, v_reset: -65.0}
  tr_pre: {kind: VarTrace, n_units: 8000, tau_tr: 20.0, a_delta: 0.0, decay_type: exp}
  tr_post: {kind: VarTrace, n_units: 8000, tau_tr: 20.0, a_delta: 0.0, decay_type: exp}
wires:
  - inp.outputs -> W.inputs
  - W.outputs -> exc.j
  - inp.outputs -> tr_pre.inputs
  - exc.s -> tr_post.inputs
  - inp.outputs -> W.preSpike
  - tr_pre.trace -> W.preTrace
  - exc.s -> W.postSpike
  - tr_post.trace -> W.postTrace
clamps: {inp.inputs: {constant: 0.5}}
schedule: [reset, {repeat: 4, do: [{advance: 1}, {evolve: [W]}]}]
phases:
  train: {batches: 2, batch_size: 2}
"""

RECORDS = """
ngcspec: 1
name: big-records
components:
  z: {kind: RateCell, n_units: 20000, tau_m: 10.0, act_fx: tanh}
clamps: {z.j: {constant: 0.5}}
schedule: [reset, {advance: 50}]
phases:
  run: {batches: 4, batch_size: 32}
run:
  epochs: 2
  record: {z.z: per_step}
"""

CIRCUITS = {"graded (Hebbian 6000^2, Adam)": GRADED,
            "spiking (trace STDP 8000^2)": SPIKING,
            "records (per-step 20000 x 128 x 50)": RECORDS}

CHILD = textwrap.dedent("""
    import json, resource, sys
    import ngcspec
    from ngcspec.memory import estimate
    circuit = ngcspec.load(sys.stdin.read())
    est = estimate(circuit.resolved)
    circuit.run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"estimate": est.total_bytes, "peak": peak,
                      "items": est.largest(4)}))
""")


def measure(text: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD], input=text, capture_output=True,
                          text=True, timeout=900)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    base = measure(TRIVIAL)["peak"]
    rows = {}
    for name, text in CIRCUITS.items():
        m = measure(text)
        m["used"] = m["peak"] - base
        m["ratio"] = m["estimate"] / m["used"]
        rows[name] = m
    if "--json" in sys.argv:
        print(json.dumps({"trivial_peak": base, "circuits": rows}))
        return
    print(f"trivial circuit peak RSS: {base / 2**20:.0f} MiB")
    print(f"{'circuit':40s} {'estimate':>10s} {'measured':>10s} {'ratio':>6s}")
    for name, m in rows.items():
        print(f"{name:40s} {m['estimate'] / 2**30:9.2f}G {m['used'] / 2**30:9.2f}G "
              f"{m['ratio']:6.2f}")
        print("    largest items: " + ", ".join(f"{w} {b / 2**30:.2f}G" for w, b in m["items"]))


if __name__ == "__main__":
    main()
