"""The COBA network of circuits/coba.yaml in Brian2, timed (run by bench_coba.py).

Runs under a separate environment with Brian2 (never an ngcspec dependency):

    python -m venv /work/venv-brian2 && /work/venv-brian2/bin/pip install brian2
    /work/venv-brian2/bin/python benchmarks/coba_brian2.py runtime      # Cython runtime mode
    /work/venv-brian2/bin/python benchmarks/coba_brian2.py standalone   # C++ standalone
    /work/venv-brian2/bin/python benchmarks/coba_brian2.py standalone 1 100000   # N neurons

With N given (third argument), the network of circuits/coba_scaled.yaml: N neurons (80% E),
connection probability 80 / N; without, coba.yaml's 4000 at 2% (the same numbers).

Same network: 4000 LIF (3200 E, 800 I), p = 0.02, exponential conductances (0.6 and 6.7 in
units of the leak conductance; tau 5 and 10 ms; E_e 0, E_i -80 mV), threshold -50, reset and
rest -60 mV, tau_m 20 ms, refractory 5 ms, Euler at dt = 0.1 ms, 1 s; initial state drawn as
Brette et al. (2007) draw it (v = -65 +- 5 mV, ge = 4 +- 1.5, gi = 20 +- 12). Prints one JSON
line: the mode, the simulation time of the 1 s run (``run_s``: Brian2's own measure of the
loop, without code generation and compilation), the wall time of everything (``total_s``) and
the mean firing rates.
"""

import json
import sys
import tempfile
import time

import brian2 as b2
from brian2 import ms, mV, second

mode = sys.argv[1] if len(sys.argv) > 1 else "runtime"
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
n = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
n_e, p_conn = n * 4 // 5, 80.0 / n
t_start = time.perf_counter()
if mode == "standalone":
    directory = tempfile.mkdtemp(prefix="coba_brian2_")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    if threads > 1:
        b2.prefs.devices.cpp_standalone.openmp_threads = threads
else:
    b2.prefs.codegen.target = "cython"
b2.defaultclock.dt = 0.1 * ms
b2.seed(2005)

taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
Vt, Vr, El, Ee, Ei = -50 * mV, -60 * mV, -60 * mV, 0 * mV, -80 * mV
eqs = """
dv/dt = ((El - v) + ge * (Ee - v) + gi * (Ei - v)) / taum : volt (unless refractory)
dge/dt = -ge / taue : 1
dgi/dt = -gi / taui : 1
"""
P = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms,
                   method="euler")
Ce = b2.Synapses(P[:n_e], P, on_pre="ge += 0.6")
Ci = b2.Synapses(P[n_e:], P, on_pre="gi += 6.7")
Ce.connect(p=p_conn)
Ci.connect(p=p_conn)
P.v = "El + (5 * randn() - 5) * mV"
P.ge = "4 + 1.5 * randn()"
P.gi = "20 + 12 * randn()"
spikes = b2.SpikeMonitor(P, record=False)
net = b2.Network(P, Ce, Ci, spikes)

if mode == "standalone":
    net.run(1 * second)
    b2.device.build(directory=directory, compile=True, run=True)
    run_s = b2.device._last_run_time
else:
    net.run(1 * ms)                      # generate and compile the code once
    t = time.perf_counter()
    net.run(1 * second)
    run_s = time.perf_counter() - t
counts = spikes.count[:]
total = time.perf_counter() - t_start
print(json.dumps({"mode": mode, "threads": threads, "n": n, "run_s": run_s, "total_s": total,
                  "rate_E": float(counts[:n_e].mean()), "rate_I": float(counts[n_e:].mean()),
                  "brian2": b2.__version__}))
