"""Predictive-coding benchmark: the compiled ngcspec run against hand-written JAX.

The circuit is ngc-learn's discriminative PCN (museum ``pc_discrim``) at 784-360-360-10:
stateless input/output RateCells z0, z3 (clamped to x and to the one-hot y), RateCells z1, z2
(tau_m 20, relu), GaussianErrorCells e1..e3, HebbianSynapses W1..W3 (sgd, sign_value -1, no
bias, w_bound 0) and feedback StaticSynapses E2, E3 tied to the transposes of W2, W3. Each
step runs in ngc-learn's order (feedback -> states -> forward -> errors, errors read one step
late); each batch of 64 is reset, clamped, advanced 20 steps and evolves W1..W3 once. The data
are random (an ``.npz`` written to a temporary folder).

Three ways of running the same math are timed side by side in one process, interleaved call
by call so that the noise of a shared machine hits all of them alike:

* ``ngcspec``: the phase's jitted epoch program (one compiled call per epoch of K batches),
  with ``run.check_finite`` as in the file (on, the default) and off;
* ``hand``: the same ops in the same order written directly as one ``lax.scan`` over batches
  with a ``lax.scan`` over steps inside (checked to give the same numbers first);
* ``loop``: a Python loop per step calling the jitted ``circuit.step`` (plus one jitted call
  for reset+clamp and one for evolve per batch), the way ngc-learn's PCN exhibit runs.

Also timed in the same rounds: ``Circuit.run(epochs=1)``, the public entry point (the same
epoch program plus the host-side work of a run). Also reported: the cold compile time of each
epoch program (wall and CPU time; the persistent XLA cache is switched off).

    python benchmarks/bench_pc.py              # full run (a few minutes on 2 CPU cores)
    python benchmarks/bench_pc.py --quick      # short run
    python benchmarks/bench_pc.py --json out.json
    python benchmarks/bench_pc.py --trees /tmp/old . --rounds 5 --quick   # old against new

``--trees`` compares checkouts of ngcspec (e.g. an older revision, ``git worktree add /tmp/old
REV``): each round runs this benchmark once per tree, in a fresh process with that tree first
on ``PYTHONPATH``, in alternating order; reported are the medians over rounds of each tree's
compiled/hand ratio (the hand-written program is the same in every tree, so the ratio cancels
the drift of a shared machine's load) and their quotient, old over new.

Runs unchanged on CPU or GPU: JAX picks the backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = (784, 360, 360, 10)


def circuit_yaml(batch_size: int, steps: int, eta: float, tau_m: float, check_finite: bool) -> str:
    n0, n1, n2, n3 = SIZES
    return f"""\
ngcspec: 1
name: pc-bench
dt: 1.0
seed: 1
data:
  train: {{file: data.npz, batch_size: {batch_size}, shuffle: false}}
components:
  z0: {{kind: RateCell, n_units: {n0}, tau_m: 0.0, act_fx: identity}}
  z1: {{kind: RateCell, n_units: {n1}, tau_m: {tau_m}, act_fx: relu, prior: [gaussian, 0.0]}}
  z2: {{kind: RateCell, n_units: {n2}, tau_m: {tau_m}, act_fx: relu, prior: [gaussian, 0.0]}}
  z3: {{kind: RateCell, n_units: {n3}, tau_m: 0.0, act_fx: identity}}
  W1: {{kind: HebbianSynapse, shape: [{n0}, {n1}], eta: {eta}, sign_value: -1.0, w_bound: 0.0,
       weight_init: {{dist: gaussian, std: 0.05}}}}
  W2: {{kind: HebbianSynapse, shape: [{n1}, {n2}], eta: {eta}, sign_value: -1.0, w_bound: 0.0,
       weight_init: {{dist: gaussian, std: 0.05}}}}
  W3: {{kind: HebbianSynapse, shape: [{n2}, {n3}], eta: {eta}, sign_value: -1.0, w_bound: 0.0,
       weight_init: {{dist: gaussian, std: 0.05}}}}
  e1: {{kind: GaussianErrorCell, n_units: {n1}}}
  e2: {{kind: GaussianErrorCell, n_units: {n2}}}
  e3: {{kind: GaussianErrorCell, n_units: {n3}}}
  E2: {{kind: StaticSynapse, shape: [{n2}, {n1}], tie: {{to: W2.weights, transpose: true}}}}
  E3: {{kind: StaticSynapse, shape: [{n3}, {n2}], tie: {{to: W3.weights, transpose: true}}}}
wires:
  - z0.zF -> W1.inputs
  - W1.outputs -> e1.mu
  - z1.z -> e1.target
  - z1.zF -> W2.inputs
  - W2.outputs -> e2.mu
  - z2.z -> e2.target
  - z2.zF -> W3.inputs
  - W3.outputs -> e3.mu
  - z3.z -> e3.target
  - e2.dmu ~> E2.inputs
  - E2.outputs -> z1.j
  - e1.dtarget ~> z1.j_td
  - e3.dmu ~> E3.inputs
  - E3.outputs -> z2.j
  - e2.dtarget ~> z2.j_td
  - z0.zF -> W1.pre
  - e1.dmu -> W1.post
  - z1.zF -> W2.pre
  - e2.dmu -> W2.post
  - z2.zF -> W3.pre
  - e3.dmu -> W3.post
order: [E2, E3, z0, z1, z2, z3, W1, W2, W3, e1, e2, e3]
clamps:
  z0.j: train.x
  z3.j: train.y
schedule:
  - reset
  - advance: {steps}
  - evolve: [W1, W2, W3]
phases:
  train:
    data: train
    metrics: {{loss: {{mean: e3.L}}}}
run:
  epochs: 1
  check_finite: {str(check_finite).lower()}
"""


def write_data(folder: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((n, SIZES[0]), dtype=np.float32)
    label = rng.integers(0, SIZES[-1], n).astype(np.int32)
    y = np.eye(SIZES[-1], dtype=np.float32)[label]
    np.savez(folder / "data.npz", x=x, y=y, label=label)


# ---------------------------------------------------------------------------------------------
# the same math by hand


def make_hand_epoch(steps: int, dt: float, tau_m: float, eta: float, sigma: float = 1.0):
    """Epoch function ``(W1, W2, W3), x, y, idx -> ((W1, W2, W3), L3 per batch)``.

    The ops of the ngcspec program in its order, written as one would by hand: no parameter
    pytree (constants), no unused compartments, no NaN checks."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    relu = lambda v: jnp.maximum(v, 0.0)  # noqa: E731
    d_relu = lambda v: (v >= 0).astype(v.dtype)  # noqa: E731

    def error(target, mu):
        e = target - mu
        dmu = e / sigma
        return dmu, -dmu, -0.5 * jnp.sum(e * e) / sigma

    def batch(weights, rows, xs, ys):
        W1, W2, W3 = weights
        x, y = xs[rows], ys[rows]  # z0.zF and z3.z: stateless identity cells
        zeros = lambda n: jnp.zeros((x.shape[0], n), x.dtype)  # noqa: E731
        n1, n2, n3 = W1.shape[1], W2.shape[1], W3.shape[1]

        def step(c, _):
            z1, z2, e1_dmu, e1_dt, e2_dmu, e2_dt, e3_dmu, _ = c  # errors of the previous step
            j1 = e2_dmu @ W2.T                                   # E2
            j2 = e3_dmu @ W3.T                                   # E3
            z1 = z1 + dt * ((j1 * d_relu(z1) + e1_dt) / tau_m)   # z1 (gaussian prior, leak 0)
            z2 = z2 + dt * ((j2 * d_relu(z2) + e2_dt) / tau_m)   # z2
            z1f, z2f = relu(z1), relu(z2)
            mu1, mu2, mu3 = x @ W1, z1f @ W2, z2f @ W3           # W1, W2, W3
            e1_dmu, e1_dt, _ = error(z1, mu1)                    # e1, e2, e3
            e2_dmu, e2_dt, _ = error(z2, mu2)
            e3_dmu, _, L3 = error(y, mu3)
            return (z1, z2, e1_dmu, e1_dt, e2_dmu, e2_dt, e3_dmu, L3), None

        c0 = (zeros(n1), zeros(n2), zeros(n1), zeros(n1), zeros(n2), zeros(n2), zeros(n3),
              jnp.zeros((), x.dtype))
        (z1, z2, e1_dmu, _, e2_dmu, _, e3_dmu, L3), _ = lax.scan(step, c0, None, length=steps)
        # two-factor Hebbian, sgd, sign_value -1: W <- W - eta * (-(pre^T post))
        W1 = W1 - eta * -(x.T @ e1_dmu)
        W2 = W2 - eta * -(relu(z1).T @ e2_dmu)
        W3 = W3 - eta * -(relu(z2).T @ e3_dmu)
        return (W1, W2, W3), L3

    def epoch(weights, xs, ys, idx):
        return lax.scan(lambda w, rows: batch(w, rows, xs, ys), weights, idx)

    return jax.jit(epoch)


# ---------------------------------------------------------------------------------------------
# helpers


def timed(fn, *args):
    import jax
    t = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return time.perf_counter() - t, out


def epoch_program(circuit, state, data, idx):
    """The phase's jitted epoch function and its arguments (no shuffle, seed 0, epoch 0)."""
    pp = circuit.program.phase("train")
    params = circuit.params
    # what Circuit.run calls: the batch-level finite check when the file asks for one
    mode = "batch" if circuit.program.check_finite else "off"
    return pp.jitted(check=mode), (params, state, pp.device_data(), 0, 0)


def compile_timed(fn, args):
    """``fn.lower(*args).compile()`` and its wall/CPU times."""
    t, c = time.perf_counter(), time.process_time()
    lowered = fn.lower(*args)
    t_lower = time.perf_counter() - t
    compiled = lowered.compile()
    return compiled, {"trace_lower_s": t_lower, "total_s": time.perf_counter() - t,
                      "total_cpu_s": time.process_time() - c}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def versions() -> dict:
    import jax
    import jaxlib
    import ngcspec
    try:
        from importlib.metadata import version
        ngc_version = version("ngcspec")
    except Exception:  # pragma: no cover
        ngc_version = getattr(ngcspec, "__version__", "?")
    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "numpy": np.__version__, "ngcspec": ngc_version,
            "ngcspec_source": source_revision(Path(ngcspec.__file__).parent)}


def source_revision(folder: Path) -> str:
    """Where ngcspec was imported from, and its git commit (+dirty) when in a checkout."""
    import subprocess
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder,
                             capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return str(folder)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=folder,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{folder} @ {rev.stdout.strip()}{' (uncommitted changes)' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return str(folder)


def machine() -> dict:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import jax
    return {"cpu": cpu, "cores": os.cpu_count(), "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "device_kind": jax.devices()[0].device_kind}


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (fewer batches and repeats)")
    ap.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    ap.add_argument("--batches", type=int, help="batches per epoch call (default 16, quick 4)")
    ap.add_argument("--repeats", type=int, help="timed calls per variant (default 11, quick 3)")
    ap.add_argument("--loop-batches", type=int,
                    help="batches timed in the per-step Python loop (default 4, quick 2)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="advance steps per batch")
    ap.add_argument("--skip-loop", action="store_true", help="do not time the per-step loop")
    ap.add_argument("--trees", nargs="+", metavar="DIR",
                    help="compare these ngcspec checkouts, one process per tree and round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of --trees (default 5)")
    args = ap.parse_args(argv)
    if args.trees:
        return compare_trees(args)

    K = args.batches or (4 if args.quick else 16)
    R = args.repeats or (3 if args.quick else 11)
    KL = args.loop_batches or (2 if args.quick else 4)
    B, T = args.batch_size, args.steps
    eta, tau_m, dt = 1e-5, 20.0, 1.0
    steps_per_call = K * T

    import jax
    import jax.numpy as jnp
    import ngcspec

    try:  # compile times below are cold compiles: no persistent XLA cache
        jax.config.update("jax_enable_compilation_cache", False)
    except Exception:  # pragma: no cover - older or newer JAX without the flag
        pass
    info = {"machine": machine(), "versions": versions(),
            "config": {"sizes": SIZES, "batch_size": B, "steps_per_batch": T,
                       "batches_per_call": K, "repeats": R, "loop_batches": KL,
                       "quick": args.quick}}
    print(f"devices: {jax.devices()}")
    print(f"machine: {info['machine']['cpu']}, {info['machine']['cores']} cores; "
          f"versions: {info['versions']}")
    print(f"PCN {'-'.join(map(str, SIZES))}, batch {B}, {T} steps + evolve per batch, "
          f"{K} batches per call ({steps_per_call} steps), {R} timed calls each")

    tmp = tempfile.TemporaryDirectory(prefix="ngcspec-bench-")
    folder = Path(tmp.name)
    write_data(folder, K * B)
    circuits = {}
    for check in (True, False):
        path = folder / f"pc_check{int(check)}.yaml"
        path.write_text(circuit_yaml(B, T, eta, tau_m, check))
        circuits[check] = ngcspec.load(path)

    c = circuits[True]
    data = {k: jnp.asarray(v.astype(np.int32) if v.dtype.kind in "iu" else v)
            for k, v in c.resolved.phases["train"].data.arrays.items()}
    idx = jnp.arange(K * B, dtype=jnp.int32).reshape(K, B)  # no shuffle: batches in file order
    key = jax.random.PRNGKey(0)
    state0 = c.init_state()          # both variants share structure and initial values
    params = c.params
    w0 = tuple(state0[n]["weights"] for n in ("W1", "W2", "W3"))

    # -- compile ----------------------------------------------------------------------------
    compile_s = {}
    fns, epoch_args = {}, {}
    for check, name in ((True, "ngcspec"), (False, "ngcspec_nocheck")):
        fn, epoch_args[name] = epoch_program(circuits[check], state0, data, idx)
        _, compile_s[name] = compile_timed(fn, epoch_args[name])
        fns[name] = fn   # timed as users call it: the compiled program plus its host-side merge
    hand = make_hand_epoch(T, dt, tau_m, eta)
    fns["hand"], compile_s["hand"] = compile_timed(hand, (w0, data["x"], data["y"], idx))
    for k, v in compile_s.items():
        print(f"compile {k:16s} {v['total_s']:7.2f} s wall, {v['total_cpu_s']:6.2f} s CPU "
              f"(trace+lower {v['trace_lower_s']:.2f} s)")

    calls = {
        "ngcspec": lambda: fns["ngcspec"](*epoch_args["ngcspec"]),
        "ngcspec_nocheck": lambda: fns["ngcspec_nocheck"](*epoch_args["ngcspec_nocheck"]),
        "hand": lambda: fns["hand"](w0, data["x"], data["y"], idx),
    }

    # -- same numbers? ------------------------------------------------------------------------
    outs = {k: f() for k, f in calls.items()}
    jax.block_until_ready(outs)
    (wh, L_hand) = outs["hand"]
    L_hand = np.asarray(L_hand)
    tol = 1e-4 if jax.default_backend() == "cpu" else 2e-2  # GPUs may run f32 dots in TF32
    check = {}
    for name in ("ngcspec", "ngcspec_nocheck"):
        st, o = outs[name]
        o = o.get("full", o)  # per-batch outputs stacked over the batches
        errs = {f"dW{i + 1}": rel_err(st[n]["weights"] - w0[i], wh[i] - w0[i])
                for i, n in enumerate(("W1", "W2", "W3"))}
        errs["L3"] = rel_err(np.asarray(o["metrics"]["loss"][0]), L_hand)
        errs["bad_steps"] = -1 if bool(np.all(np.asarray(o.get("ok", True)))) else 1
        check[name] = errs
    print("max relative difference to hand (weight changes, loss per batch):")
    for name, errs in check.items():
        print(f"  {name:16s} " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()
                                            if k != "bad_steps"))
    worst = max(v for e in check.values() for k, v in e.items() if k != "bad_steps")
    if worst > tol or any(e["bad_steps"] >= 0 for e in check.values()):
        print(f"MISMATCH: ngcspec and the hand-written program differ by {worst:.2e} "
              f"(tolerance {tol}) or hit a non-finite value", file=sys.stderr)
        return 1

    # -- timing: interleaved ------------------------------------------------------------------
    def circuit_run():  # the public entry point, one epoch; it blocks until done
        circuits[True].run(epochs=1)

    calls["circuit_run"] = circuit_run
    times = {k: [] for k in calls}
    for f in calls.values():  # one untimed warm call each (Circuit.run compiles here)
        jax.block_until_ready(f())
    names = list(calls)
    for r in range(R):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for k in order:
            times[k].append(timed(calls[k])[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    ratios_of_best = {  # on a shared machine the fastest call is the least disturbed one
        "ngcspec_over_hand": best["ngcspec"] / best["hand"],
        "ngcspec_nocheck_over_hand": best["ngcspec_nocheck"] / best["hand"],
        "check_over_nocheck": best["ngcspec"] / best["ngcspec_nocheck"],
    }
    ratios = {
        "ngcspec_over_hand": statistics.median(a / b for a, b in zip(times["ngcspec"], times["hand"])),
        "ngcspec_nocheck_over_hand": statistics.median(
            a / b for a, b in zip(times["ngcspec_nocheck"], times["hand"])),
        "check_over_nocheck": statistics.median(
            a / b for a, b in zip(times["ngcspec"], times["ngcspec_nocheck"])),
        "circuit_run_over_ngcspec": statistics.median(
            a / b for a, b in zip(times["circuit_run"], times["ngcspec"])),
    }

    if args.skip_loop:
        return finish(args, info, compile_s, check, times, med, best, ratios, ratios_of_best,
                      steps_per_call, R, tmp)

    # -- the per-step Python loop -------------------------------------------------------------
    cn = circuits[False]  # NaN checks live in the epoch program only; step is the same function
    prog, ppn = cn.program, cn.program.phase("train")
    step = jax.jit(cn.step)
    begin = jax.jit(lambda p, s, b: ppn.apply_clamps(prog.reset(p, s, B), b))
    evolve = jax.jit(lambda p, s: prog.evolve(p, s, ("W1", "W2", "W3"), T))
    host_idx = np.asarray(idx)
    batches = [{k: v[host_idx[i]] for k, v in data.items()} for i in range(K)]
    jax.block_until_ready(batches)

    def loop(n_batches):
        s = state0
        for i in range(n_batches):
            s = begin(params, s, batches[i])
            for t in range(T):
                s = step(params, s, t, key)
            s = evolve(params, s)
        return s

    s_loop = loop(K)  # compiles; the same numbers as the epoch program?
    jax.block_until_ready(s_loop)
    st = outs["ngcspec_nocheck"][0]
    loop_err = max(rel_err(s_loop[n]["weights"] - w0[i], st[n]["weights"] - w0[i])
                   for i, n in enumerate(("W1", "W2", "W3")))
    print(f"per-step loop vs epoch program: max relative difference {loop_err:.1e}")
    loop_times, fused_times, fused_nocheck_times = [], [], []
    n_loop_reps = max(3, R // 2)
    for r in range(n_loop_reps):  # interleaved with the fused programs
        loop_times.append(timed(loop, KL)[0] / (KL * T))
        fused_times.append(timed(calls["ngcspec"])[0] / steps_per_call)
        fused_nocheck_times.append(timed(calls["ngcspec_nocheck"])[0] / steps_per_call)
    loop_step_s = statistics.median(loop_times)
    ratios["loop_over_ngcspec"] = statistics.median(a / b for a, b in zip(loop_times, fused_times))
    ratios["loop_over_ngcspec_nocheck"] = statistics.median(
        a / b for a, b in zip(loop_times, fused_nocheck_times))

    loop = {"loop_vs_epoch_rel_diff": loop_err, "seconds_per_step_loop_all": loop_times,
            "steps_per_s_loop": 1.0 / loop_step_s}
    return finish(args, info, compile_s, check, times, med, best, ratios, ratios_of_best,
                  steps_per_call, R, tmp, loop)


def finish(args, info, compile_s, check, times, med, best, ratios, ratios_of_best,
           steps_per_call, R, tmp, loop=None) -> int:
    """Print and write the results."""
    steps_per_s = {k: steps_per_call / v for k, v in med.items()}
    if loop:
        steps_per_s["loop"] = loop["steps_per_s_loop"]
    results = {
        **info,
        "compile_s": compile_s,
        "check": check,
        **({k: v for k, v in loop.items() if k != "steps_per_s_loop"} if loop else {}),
        "seconds_per_call_median": med,
        "seconds_per_call_all": times,
        "steps_per_s": steps_per_s,
        "ratios": ratios,
        "ratios_of_fastest_calls": ratios_of_best,
        "steps_per_s_fastest_call": {k: steps_per_call / v for k, v in best.items()},
        "targets": {"ngcspec_over_hand_max": 1.10, "loop_over_ngcspec_min": 3.0},
    }

    print(f"\nsteps/s (median of {R} calls of {steps_per_call} steps):")
    for k, v in steps_per_s.items():
        print(f"  {k:16s} {v:9.0f}")
    print("ratios: median of per-round ratios | ratio of the fastest calls")
    for k, v in ratios.items():
        print(f"  {k:26s} {v:6.3f}" + (f" | {ratios_of_best[k]:6.3f}" if k in ratios_of_best else ""))
    ok_hand = ratios["ngcspec_over_hand"] <= 1.10
    print(f"target ngcspec/hand <= 1.10: {'met' if ok_hand else 'NOT met'} "
          f"(check_finite off: {ratios['ngcspec_nocheck_over_hand']:.3f})"
          + (f"; target loop/ngcspec >= 3: "
             f"{'met' if ratios['loop_over_ngcspec'] >= 3.0 else 'NOT met'}" if loop else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    tmp.cleanup()
    return 0


def compare_trees(args) -> int:
    """Run this benchmark once per tree and round (fresh processes, alternating order) and
    report each tree's median compiled/hand ratios and the quotients new (last) over old."""
    import subprocess

    trees, rounds = args.trees, args.rounds
    passed = ["--batch-size", str(args.batch_size), "--steps", str(args.steps), "--skip-loop"]
    for opt in ("batches", "repeats"):
        if getattr(args, opt) is not None:
            passed += [f"--{opt}", str(getattr(args, opt))]
    if args.quick:
        passed.append("--quick")
    keys = ("ngcspec_over_hand", "ngcspec_nocheck_over_hand")
    got: dict[str, dict[str, list[float]]] = {t: {k: [] for k in keys} for t in trees}
    sources: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = trees if r % 2 == 0 else trees[::-1]
            for tree in order:
                out = Path(tmp) / "run.json"
                env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
                proc = subprocess.run([sys.executable, __file__, *passed, "--json", str(out)],
                                      env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                    return proc.returncode
                res = json.loads(out.read_text())
                sources[tree] = res["versions"]["ngcspec_source"]
                for k in keys:
                    got[tree][k].append(res["ratios"][k])
                print(f"round {r + 1} {tree}: " + ", ".join(f"{k} {got[tree][k][-1]:.3f}"
                                                            for k in keys), flush=True)
    print(f"\nmedians over {rounds} rounds (compiled / hand-written, lower is faster):")
    for tree in trees:
        print(f"  {tree} ({sources[tree]}): " + ", ".join(
            f"{k} {statistics.median(got[tree][k]):.3f}" for k in keys))
    old, new = trees[0], trees[-1]
    for k in keys:
        q = statistics.median(got[new][k]) / statistics.median(got[old][k])
        print(f"  new/old {k}: {q:.3f} (<= 1.03: {'met' if q <= 1.03 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
