"""Where bench_pc's batch-1 gap goes: time per batch of the compiled epoch with and without
the finite check, and with HebbianSynapse's evolve not multiplying by its (all-ones) mask.

The last variant patches the kind in this process only, to measure what re-applying the mask
costs; ngcspec itself is unchanged. All variants and the hand-written program of
``bench_pc.py`` are called interleaved (15 rounds of one 16-batch epoch each).

    python benchmarks/bench_pc_batch1.py [--batch-size 1] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    import jax
    import jax.numpy as jnp

    import bench_pc
    import ngcspec
    from ngcspec.components import synapses

    B, K, T = args.batch_size, 16, 20
    folder = Path(tempfile.mkdtemp(prefix="ngcspec-bench-"))
    bench_pc.write_data(folder, K * B)
    evolve = synapses.HebbianSynapse.evolve.__func__

    def evolve_without_mask(cls, p, s, ctx):
        return evolve(cls, p, {**s, "mask": 1.0}, ctx)

    fns = {}
    for name, check, unmasked in (("check", True, False), ("nocheck", False, False),
                                  ("nocheck_nomask", False, True), ("check_nomask", True, True)):
        if unmasked:
            synapses.HebbianSynapse.evolve = classmethod(evolve_without_mask)
        (folder / "pc.yaml").write_text(bench_pc.circuit_yaml(B, T, 1e-5, 20.0, check))
        c = ngcspec.load(folder / "pc.yaml")
        pp = c.program.phase("train")
        fn = pp.jitted(check="batch" if check else "off")
        args_ = (c.params, c.init_state(), pp.device_data(), 0, 0)
        jax.block_until_ready(fn(*args_))          # traced and compiled with the patch in place
        fns[name] = (fn, args_)
        synapses.HebbianSynapse.evolve = classmethod(evolve)
    state = fns["check"][1][1]
    data = fns["check"][1][2]
    idx = jnp.arange(K * B).reshape(K, B)
    w0 = tuple(state[n]["weights"] for n in ("W1", "W2", "W3"))
    hand = bench_pc.make_hand_epoch(T, 1.0, 20.0, 1e-5)
    fns["hand"] = (hand, (w0, data["x"], data["y"], idx))
    jax.block_until_ready(hand(*fns["hand"][1]))
    times = {k: [] for k in fns}
    for _ in range(args.rounds):
        for k, (f, a) in fns.items():
            t = time.perf_counter()
            jax.block_until_ready(f(*a))
            times[k].append(time.perf_counter() - t)
    print(f"batch {B}, {K} batches of {T} steps + evolve per call, {args.rounds} interleaved calls")
    for k, v in times.items():
        ratio = statistics.median(a / h for a, h in zip(v, times["hand"]))
        print(f"  {k:16s} {statistics.median(v) / K * 1e6:8.1f} us per batch   / hand {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
