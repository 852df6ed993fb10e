"""Stored connection lists against procedural connectivity (regenerated from the seed in the
step, as GeNN can), for the transmission of one step of COBA-like spikes.

Both deliver the same spikes to the same targets (checked): ``stored`` gathers the rows of
the units that fired from the lists and scatter-adds them (the XLA event path); the
``procedural`` variant regenerates those rows with
:func:`ngcspec.components.connectivity._positions` (threefry, log, a scan over max_out
gaps per row) and scatter-adds them, storing nothing. 1,000 steps in one ``lax.scan``, a
fixed set of ``k`` spiking rows per step drawn at random, best of 5 interleaved calls.

    python benchmarks/bench_procedural.py
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main() -> int:
    import jax
    import jax.numpy as jnp
    from jax import lax

    from ngcspec.components import connectivity as conn

    key = jax.random.PRNGKey(0)
    rows_out = []
    for n, k in ((16_000, 32), (100_000, 160), (1_000_000, 1600)):
        p = 80.0 / n
        n_e = n * 4 // 5
        shape, mo = (n_e, n), conn.default_max_out(n, p)
        targets = conn.draw_targets(key, p, shape, mo)
        spikes = jax.random.randint(jax.random.PRNGKey(1), (1000, k), 0, n_e).astype(jnp.uint32)

        def stored(ids, targets=targets):
            t = jnp.take(targets, ids.astype(jnp.int32), axis=0)
            return jnp.zeros((n,), jnp.float32).at[t].add(1.0, mode="drop")

        def procedural(ids):
            t = conn._positions(key, p, shape, ids, mo)
            return jnp.zeros((n,), jnp.float32).at[t].add(1.0, mode="drop")

        fns = {}
        for name, f in (("stored", stored), ("procedural", procedural)):
            fns[name] = jax.jit(lambda s, f=f: lax.scan(lambda c, ids: (c + f(ids), None),
                                                       jnp.zeros((n,), jnp.float32), s)[0])
        a, b = fns["stored"](spikes), fns["procedural"](spikes)
        assert np.array_equal(np.asarray(a), np.asarray(b))
        times = {name: [] for name in fns}
        for _ in range(5):
            for name, f in fns.items():
                t = time.perf_counter()
                jax.block_until_ready(f(spikes))
                times[name].append(time.perf_counter() - t)
        row = {"n": n, "spiking_rows_per_step": k, "max_out": mo,
               "stored_us_per_step": min(times["stored"]) * 1e3,
               "procedural_us_per_step": min(times["procedural"]) * 1e3,
               "lists_mb": targets.size * 8 / 2**20}
        row["ratio"] = row["procedural_us_per_step"] / row["stored_us_per_step"]
        print(json.dumps(row), flush=True)
        rows_out.append(row)
        del targets
    return 0


if __name__ == "__main__":
    sys.exit(main())
