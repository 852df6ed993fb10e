"""Patched synapses: block-by-block products against a masked dense matrix.

A patched synapse of n patches of d x d on an (n d) x (n d) matrix (default 16 patches of
64 x 64, a 1024 x 1024 matrix that is 1/16 non-zero) is run two ways, with the same numbers:

* ``blocks``: the ngcspec kinds (PatchedSynapse.advance, HebbianPatchedSynapse.evolve),
  which store the patches as (n, d + 2s, d + 2s) blocks and multiply them as a batched
  product;
* ``masked dense``: DenseSynapse.advance / HebbianSynapse.evolve on the dense equivalent
  (the same weights in a 1024 x 1024 matrix, mask = the patches, p_conn < 1 so that the
  mask is applied at every step as a masked patched synapse would have to).

Each is a jitted ``lax.scan`` of T advance steps (inputs change every step) or of T evolve
calls, timed by interleaving the two variants call by call (median of several calls) so the
noise of a shared machine hits both alike. The outputs are checked to agree first. Reported:
microseconds per step and the dense/blocks ratio, for stride 0 and for overlapping patches
(stride 8), at batch sizes 1 and 32, for ``advance`` (the forward product; post_in stays 0,
so on CPU the transpose path is skipped, on GPU it runs anyway), ``advance+T`` (post_in driven too, so pre_out = post_in @ W^T is computed; the
dense twin does a second product) and ``evolve`` (the Hebbian update, sgd).

    python benchmarks/bench_patched.py               # ~20 s on 2 idle CPU cores
    python benchmarks/bench_patched.py --quick
    python benchmarks/bench_patched.py --n 16 --d 64 --json out.json
    python benchmarks/bench_patched.py --n 64 --d 128 --steps 20   # an 8192 x 8192 matrix (GPU)

Runs unchanged on CPU or GPU: JAX picks the backend.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np


def build(kind: str, batch: int, **params):
    from ngcspec.lazy import jnp, random
    from ngcspec.params import ParamView
    from ngcspec.registry import get_kind
    from ngcspec.state import numeric_params

    cls = get_kind(kind)
    model = cls.Params(**params)
    p = ParamView(model, numeric_params(model, "float32"))
    state = dict(cls.init(model, random.PRNGKey(0), "float32"))
    shapes = cls.shapes(model)
    for name, c in cls.compartments.items():       # the transient compartments, reset
        if not c.persistent:
            state[name] = jnp.full(((batch,) if c.batched else ()) + shapes[name],
                                   float(c.reset) if not isinstance(c.reset, str) else 0.0,
                                   "int32" if c.integer else "float32")
    return cls, p, state


def variants(n: int, d: int, stride: int, batch: int, steps: int):
    """The jitted scans of both layouts: {layout: ({op: advance scan}, evolve scan, state)},
    plus "_data": (inputs, post-synaptic factors, geometry)."""
    import jax
    import jax.numpy as jnp

    from ngcspec.components.patched import Patches
    from ngcspec.registry import StepContext

    size = n * d
    g = Patches(n, size, size, stride, stride)
    hebb = dict(eta=0.001, sign_value=-1.0, w_bound=0.0, optim_type="sgd")
    pk, pp, ps = build("HebbianPatchedSynapse", batch, shape=[size, size], n_sub_models=n,
                       stride_shape=[stride, stride], weight_init={"dist": "gaussian", "std": 0.05},
                       **hebb)
    # the dense twin: same weights, mask = the patches (p_conn < 1 switches the mask on)
    dk, dp, ds = build("HebbianSynapse", batch, shape=[size, size], p_conn=0.999, **hebb)
    ds["weights"] = g.to_dense(ps["weights"])
    ds["mask"] = jnp.asarray(g.support(), jnp.float32)
    ctx = StepContext(jnp.float32(1.0), jnp.float32(0.0), None, batch)

    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.normal(size=(steps, batch, size)), jnp.float32)
    ys = jnp.asarray(rng.normal(size=(steps, batch, size)), jnp.float32)

    def advance_scan(kind, p, transpose: bool):
        """T advance steps; with ``transpose`` the transpose path is driven too (post_in ->
        pre_out: built into the patched kinds, a second product W^T for the dense twin)."""
        @jax.jit
        def run(s, xs, ys):
            def body(s, xy):
                s = {**s, "inputs": xy[0]}
                if transpose and "post_in" in s:
                    s["post_in"] = xy[1]
                s = {**s, **kind.advance(p, s, ctx)}
                out = s["outputs"][0, 0]
                if transpose:
                    back = s["pre_out"] if "pre_out" in s else xy[1] @ (s["weights"] * s["mask"]).T
                    out = out + back[0, 0]
                return s, out
            return jax.lax.scan(body, s, (xs, ys))[1]
        return run

    def evolve_scan(kind, p):
        @jax.jit
        def run(s, xs, ys):
            def body(s, xy):
                s = {**s, "pre": xy[0], "post": xy[1]}
                s = {**s, **kind.evolve(p, s, ctx)}
                return s, s["weights"]
            s, _ = jax.lax.scan(body, s, (xs, ys))
            return s["weights"]
        return run

    return {
        "blocks": ({"advance": advance_scan(pk, pp, False),
                    "advance+T": advance_scan(pk, pp, True)}, evolve_scan(pk, pp), ps),
        "masked dense": ({"advance": advance_scan(dk, dp, False),
                          "advance+T": advance_scan(dk, dp, True)}, evolve_scan(dk, dp), ds),
        "_data": (xs, ys, g),
    }


def check_same(v) -> None:
    xs, ys, g = v["_data"]
    (ab, eb, sb), (ad, ed, sd) = v["blocks"], v["masked dense"]
    # the first output entry of every step, and the learned weights after all the evolves
    for op in ("advance", "advance+T"):
        np.testing.assert_allclose(np.asarray(ab[op](sb, xs, ys)), np.asarray(ad[op](sd, xs, ys)),
                                   rtol=1e-3, atol=1e-3)
    wb = np.asarray(g.to_dense(eb(sb, xs, ys)))
    wd = np.asarray(ed(sd, xs, ys))
    np.testing.assert_allclose(wb, wd, rtol=1e-3, atol=1e-3)


def time_interleaved(fns: dict, repeats: int) -> dict:
    times = {k: [] for k in fns}
    for k, f in fns.items():      # compile and warm up
        f()
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="number of patches")
    ap.add_argument("--d", type=int, default=64, help="patch size (d x d)")
    ap.add_argument("--steps", type=int, default=50, help="steps per timed call")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 10, 3

    import jax

    rows = []
    for stride in (0, 8):
        for batch in (1, 32):
            v = variants(args.n, args.d, stride, batch, args.steps)
            check_same(v)
            xs, ys, _ = v["_data"]
            fns = {}
            for name in ("blocks", "masked dense"):
                adv, evo, s = v[name]
                for op, f in adv.items():
                    fns[(name, op)] = lambda f=f, s=s: f(s, xs, ys).block_until_ready()
                fns[(name, "evolve")] = lambda evo=evo, s=s: evo(s, xs, ys).block_until_ready()
            t = time_interleaved(fns, args.repeats)
            for op in ("advance", "advance+T", "evolve"):
                b, d = t[("blocks", op)], t[("masked dense", op)]
                rows.append({"stride": stride, "batch": batch, "op": op,
                             "blocks_us": 1e6 * b / args.steps,
                             "dense_us": 1e6 * d / args.steps, "ratio": d / b})

    size = args.n * args.d
    print(f"patched synapse: {args.n} patches of {args.d}x{args.d} in a {size}x{size} matrix; "
          f"{args.steps} steps per call, median of {args.repeats}; "
          f"{jax.devices()[0].platform} ({platform.processor() or platform.machine()})")
    print(f"{'stride':>6} {'batch':>5} {'op':>9} {'blocks us/step':>15} "
          f"{'masked dense us/step':>21} {'dense/blocks':>12}")
    for r in rows:
        print(f"{r['stride']:>6} {r['batch']:>5} {r['op']:>9} {r['blocks_us']:>15.1f} "
              f"{r['dense_us']:>21.1f} {r['ratio']:>11.1f}x")
    out = {"n": args.n, "d": args.d, "steps": args.steps, "repeats": args.repeats,
           "device": jax.devices()[0].platform, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
