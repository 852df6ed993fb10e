"""Where the PC epoch program's time over the hand-written scan goes: an experiment.

Not a benchmark to keep green: it monkeypatches compiler internals (``Program.gather``,
``Program.finite_flags``, ``PhaseProgram.batch``) as they were at commit bfa4ca6 to measure
what three proposed compiler changes would buy, and prints, for each variant, the number of
XLA kernels (fusions and copies) in the compiled 20-step loop body, the compile CPU time and
the time of one epoch call relative to the hand-written program of ``bench_pc.py``:

* ``as_is``: the compiler unchanged;
* ``scale1``: a wire whose scale is 1.0 is not multiplied by its (traced) scale;
* ``persistent_carry``: across batches only persistent compartments are carried (the
  schedule starts with ``reset``, so everything else is dead at batch entry);
* ``both``: the two together;
* ``check_*``: the same with ``run.check_finite`` on: ``check_as_is`` (isfinite/all per
  changed compartment per step), ``check_both`` (the same check on ``both``),
  ``check_both_fused`` (one fused ``sum(x * 0)`` over all changed compartments per step,
  per-compartment flags computed under ``lax.cond`` only when it is not finite),
  ``check_both_per_batch`` (no per-step check; one fused check per batch of what the batch
  hands on, persistent state and metric sums; a failure would be located by re-running that
  batch with per-step flags).

    python benchmarks/pc_overheads.py [--batches 16] [--repeats 13]
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pc as bench  # noqa: E402


def gather_scale1(self, params, state, prev, name, for_evolve=False):
    """``Program.gather`` with the multiplication by a wire scale of exactly 1.0 left out."""
    s = dict(state[name])
    kind = self.comps[name].kind
    for comp, wires in self.inputs[name].items():
        if kind.compartments[comp].evolve_only and not for_evolve:
            continue
        total = None
        for w in wires:
            src = prev if (w.delayed and prev is not None) else state
            v = src[w.src][w.src_comp]
            if w.scale != 1.0:
                v = v * params["wire_scale"][w.index]
            total = v if total is None else total + v
        s[comp] = total.astype(s[comp].dtype)
    return s


def carry_persistent_only(pp):
    """Return non-persistent compartments unchanged from a batch (reset rebuilds them)."""
    original = pp.batch
    comps = pp.prog.comps

    def batch(params, state, data, key, batch_size):
        new, out = original(params, state, data, key, batch_size)
        kept = {n: {c: (v if comps[n].kind.compartments[c].persistent else state[n][c])
                    for c, v in new[n].items()} for n in new}
        return kept, out

    pp.batch = batch


def finite_flags_fused(self, changed):
    import jax
    import jax.numpy as jnp
    values = [changed[k] for k in self.watch if k in changed]
    ok = jnp.isfinite(sum(jnp.sum(v * 0.0) for v in values))  # x * 0 is NaN iff x is not finite

    def detail(_):
        true = jnp.ones((), bool)
        return jnp.stack([jnp.all(jnp.isfinite(changed[k])) if k in changed else true
                          for k in self.watch])

    return jax.lax.cond(ok, lambda _: jnp.ones((len(self.watch),), bool), detail, None)


def check_per_batch(pp):
    """One fused finite check per batch on what the batch hands on (persistent state and
    metric sums), in place of the per-step check; a failure would be located by re-running
    that batch with per-step flags."""
    import jax.numpy as jnp
    original = pp.batch
    comps = pp.prog.comps

    def batch(params, state, data, key, batch_size):
        new, out = original(params, state, data, key, batch_size)
        values = [v for n in new for c, v in new[n].items()
                  if comps[n].kind.compartments[c].persistent and
                  jnp.issubdtype(v.dtype, jnp.floating)]
        values += [s for pair in out["metrics"].values() for s in pair]
        ok = jnp.isfinite(sum(jnp.sum(v * 0.0) for v in values))
        return new, {**out, "bad": jnp.where(ok, out["bad"], 0)}

    pp.batch = batch


def loop_body_kernels(hlo: str) -> dict:
    m = re.search(r'while\(%[\w.]+\), condition=%[\w.]+, body=%([\w.]+)[^\n]*"n":"20"', hlo)
    start = hlo.index("\n%" + m.group(1) + " ")
    body = hlo[start:hlo.index("\n}\n", start)]
    return dict(collections.Counter(re.findall(r"= [^ ]+ (fusion|copy)\(", body)))


VARIANTS = {
    "as_is": (False, set()),
    "scale1": (False, {"scale1"}),
    "persistent_carry": (False, {"carry"}),
    "both": (False, {"scale1", "carry"}),
    "check_as_is": (True, set()),
    "check_both": (True, {"scale1", "carry"}),
    "check_both_fused": (True, {"scale1", "carry", "fused"}),
    "check_both_per_batch": (False, {"scale1", "carry", "per_batch"}),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=13)
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp
    import ngcspec

    K, B, T = args.batches, 64, 20
    tmp = tempfile.TemporaryDirectory(prefix="ngcspec-overheads-")
    folder = Path(tmp.name)
    bench.write_data(folder, K * B)
    for check in (False, True):
        (folder / f"pc{int(check)}.yaml").write_text(bench.circuit_yaml(B, T, 1e-5, 20.0, check))

    calls, ref = {}, None
    for name, (check, patches) in VARIANTS.items():
        c = ngcspec.load(folder / f"pc{int(check)}.yaml")
        if "scale1" in patches:
            c.program.gather = gather_scale1.__get__(c.program)
        if "carry" in patches:
            carry_persistent_only(c.program.phase("train"))
        if "per_batch" in patches:  # wraps the batch after carry_persistent_only
            check_per_batch(c.program.phase("train"))
        if "fused" in patches:
            c.program.finite_flags = finite_flags_fused.__get__(c.program)
        state = c.init_state()
        fn, fargs = bench.epoch_program(c, state, None, None)
        compiled, ct = bench.compile_timed(fn, fargs)
        out = compiled(*fargs)
        if ref is None:
            ref = out[0]
        same = all(float(jnp.max(jnp.abs(out[0][n]["weights"] - ref[n]["weights"]))) < 1e-6
                   for n in ("W1", "W2", "W3"))
        calls[name] = (compiled, fargs)
        print(f"{name:20s} loop body {loop_body_kernels(compiled.as_text())}, "
              f"compile {ct['total_cpu_s']:.2f} s CPU, same weights: {same}", flush=True)

    w0 = tuple(state[n]["weights"] for n in ("W1", "W2", "W3"))
    data = calls["as_is"][1][2]
    idx = jnp.arange(K * B).reshape(K, B)
    hand, _ = bench.compile_timed(bench.make_hand_epoch(T, 1.0, 20.0, 1e-5),
                                  (w0, data["x"], data["y"], idx))
    calls["hand"] = (hand, (w0, data["x"], data["y"], idx))
    print(f"{'hand':20s} loop body {loop_body_kernels(hand.as_text())}")

    for compiled, fargs in calls.values():
        jax.block_until_ready(compiled(*fargs))
    times = {k: [] for k in calls}
    names = list(calls)
    for r in range(args.repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            compiled, fargs = calls[k]
            times[k].append(bench.timed(compiled, *fargs)[0])
    print(f"\nepoch call of {K * T} steps, {args.repeats} interleaved rounds; ratio to hand: "
          "median of per-round ratios | ratio of the fastest calls")
    for k, v in times.items():
        per_round = statistics.median(a / h for a, h in zip(v, times["hand"]))
        print(f"  {k:20s} {statistics.median(v) * 1e3:7.1f} ms  {per_round:6.3f} | "
              f"{min(v) / min(times['hand']):6.3f}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
