"""A study three ways, side by side in one run (wall time of the whole study, start-up and
compilation included, the persistent compilation cache off in every variant):

  (a) one ``ngc sweep`` process (members vmapped),
  (b) one Python process running ``Circuit.with_params(...).run(seed=...)`` per member,
  (c) one ``ngc run --set ... --seed ...`` process per member (a sample timed, extrapolated).

    python benchmarks/bench_sweep.py                 # PC classifier (64) and Diehl & Cook (8)
    python benchmarks/bench_sweep.py --only pc --sample 4 --repeats 5   # (a), (b) 5 times
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIES = {
    # 16 learning rates x 4 seeds of the PC classifier, 5 epochs (the test phase runs once)
    "pc": dict(file="circuits/pc_digits_classifier.yaml", epochs=5,
               params={"W1.eta": [round(0.0005 * 1.25 ** i, 7) for i in range(16)]},
               seeds=[0, 1, 2, 3]),
    # Diehl & Cook: 2 STDP rates x 4 seeds, the file's 2 epochs
    "dc": dict(file="circuits/diehl_cook_digits.yaml", epochs=2,
               params={"W1.A_plus": [0.01, 0.02]}, seeds=[0, 1, 2, 3]),
}

SOLO = """
import itertools, sys, time, ngcspec
t0 = time.perf_counter()
params, seeds, epochs = {params!r}, {seeds!r}, {epochs}
circuit = ngcspec.load({file!r})
names = list(params)
for values in itertools.product(*params.values()):
    member = circuit.with_params(**dict(zip(names, values)))
    for seed in seeds:
        member.run(epochs=epochs, seed=seed)
print(time.perf_counter() - t0)
"""


def _env():
    return dict(os.environ, NGCSPEC_CACHE_DIR="off")


def _wall(cmd) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _members(study):
    import itertools

    names = list(study["params"])
    return [(dict(zip(names, values)), seed)
            for values in itertools.product(*study["params"].values()) for seed in study["seeds"]]


def bench(name: str, sample: int, repeats: int = 1) -> dict:
    study = STUDIES[name]
    members = _members(study)
    ngc = [sys.executable, "-c", "from ngcspec.cli.app import main; main()"]
    with tempfile.TemporaryDirectory() as out:
        sweep_cmd = ngc + ["sweep", study["file"], "--epochs", str(study["epochs"]), "--out", out,
                           "--no-progress", "--seeds", ",".join(map(str, study["seeds"]))]
        for k, values in study["params"].items():
            sweep_cmd += ["--param", f"{k}={','.join(map(str, values))}"]
        solo = [sys.executable, "-c", SOLO.format(file=study["file"], epochs=study["epochs"],
                                                  params=study["params"], seeds=study["seeds"])]
        a_runs, b_runs = [], []
        for _ in range(repeats):            # interleaved, so machine noise hits both alike
            a_runs.append(_wall(sweep_cmd))
            b_runs.append(_wall(solo))
        a, b = statistics.median(a_runs), statistics.median(b_runs)
        picked = members[:: max(1, len(members) // sample)][:sample]
        times = []
        for values, seed in picked:
            cmd = ngc + ["run", study["file"], "--epochs", str(study["epochs"]), "--seed",
                         str(seed), "--out", out, "--no-progress"]
            for k, v in values.items():
                cmd += ["--set", f"{k}={v}"]
            times.append(_wall(cmd))
    c = sum(times) / len(times) * len(members)
    return {"study": name, "members": len(members), "a": a, "b": b, "c": c,
            "c_sample": len(times), "b_over_a": sorted(y / x for x, y in zip(a_runs, b_runs))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=sorted(STUDIES))
    ap.add_argument("--sample", type=int, default=4, help="ngc run processes timed for (c)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="interleaved runs of (a) and (b); medians are reported")
    args = ap.parse_args()
    import jax

    print(f"# {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} "
          f"cores, python {platform.python_version()}, jax {jax.__version__}")
    print("| study | members | (a) ngc sweep | (b) with_params().run() in one process | "
          "(c) ngc run per member | (c)/(a) | (b)/(a) |")
    print("|---|---|---|---|---|---|---|")
    for name in ([args.only] if args.only else list(STUDIES)):
        r = bench(name, args.sample, args.repeats)
        print(f"| {name} | {r['members']} | {r['a']:.1f} s | {r['b']:.1f} s | {r['c']:.0f} s "
              f"({r['c_sample']} timed) | {r['c'] / r['a']:.1f}x | {r['b'] / r['a']:.2f}x |",
              flush=True)
        if args.repeats > 1:
            print(f"  (b)/(a) of each interleaved pair: "
                  f"{', '.join(f'{q:.2f}' for q in r['b_over_a'])}", flush=True)


if __name__ == "__main__":
    main()
