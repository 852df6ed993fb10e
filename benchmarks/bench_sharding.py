"""The PC classifier batch-sharded over 1, 2 and 4 devices, side by side in one process.

On a CPU the devices are XLA host devices (``--xla_force_host_platform_device_count``) that
share the machine's cores, so this measures what sharding costs (partitioned program,
collectives for the Hebbian sums over the batch), not a speed-up. Each configuration runs
one epoch to compile, then ``--epochs`` timed epochs (the median epoch is reported).

    python benchmarks/bench_sharding.py                  # 4 host devices, batch 32 and 256
    python benchmarks/bench_sharding.py --batch 32 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PC = ROOT / "circuits" / "pc_digits_classifier.yaml"

CHILD = """
import json, statistics, sys, time
import jax, ngcspec
batch, epochs, counts = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
base = ngcspec.load(sys.argv[4], overrides={"data.train.batch_size": batch,
                                            "data.train.limit": 1408 // batch * batch})
rows = []
for n in counts:
    c = base.sharded(n, shard="batch")
    t0 = time.perf_counter()
    r = c.run(epochs=1)                          # compiles (test phase forced at the end)
    first = time.perf_counter() - t0
    times = []
    state = r.continuation
    for e in range(epochs):
        t0 = time.perf_counter()
        r = c.run(epochs=1, state=state, start_epoch=e + 1)
        times.append(time.perf_counter() - t0)
        state = r.continuation
    rows.append({"devices": n, "first_s": first, "epoch_s": statistics.median(times),
                 "accuracy": r.metrics["test"][-1]["accuracy"]})
print(json.dumps({"jax": jax.__version__, "rows": rows}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    from ngcspec.sharding import host_device_flag

    env = {**host_device_flag(max(args.devices)), "NGCSPEC_CACHE_DIR": "off"}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    for batch in args.batch:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(args.epochs),
                               json.dumps(args.devices), str(PC)],
                              env=env, capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        base = res["rows"][0]["epoch_s"]
        print(f"\nPC classifier, train batch {batch}, jax {res['jax']}")
        print("| devices | first epoch (compile) s | epoch s (median) | vs 1 device | test acc |")
        print("|---|---|---|---|---|")
        for r in res["rows"]:
            print(f"| {r['devices']} | {r['first_s']:.2f} | {r['epoch_s']:.3f} | "
                  f"{r['epoch_s'] / base:.2f}x | {r['accuracy']:.4f} |")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
