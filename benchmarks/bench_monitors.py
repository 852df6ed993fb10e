"""Spike-time records against dense per-step records on Diehl & Cook.

Runs ``circuits/diehl_cook_digits.yaml`` with the excitatory spikes ``z1e.s`` recorded in the
training phase (1437 samples x 150 steps per epoch) and the test phase (360 x 300) either as
``per_step`` (a dense float32 array) or as ``spike_times`` (a list of (epoch, step, sample,
unit) rows), each variant in its own process, and reports for each: the bytes of the records
kept and saved, the bytes the compiled program hands back per step record (float32 per unit
against one bit per unit), the number of spikes, the run's wall time and peak RSS.

    python benchmarks/bench_monitors.py [--epochs 2] [--rounds 3] [--json OUT]

The variants alternate over ``--rounds`` (a fresh process each time) and the median wall time
is reported, so a busy shared machine affects both alike.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CIRCUIT = ROOT / "circuits" / "diehl_cook_digits.yaml"
MODES = ("per_step", "spike_times")


def circuit_text(mode: str) -> str:
    text = CIRCUIT.read_text()
    text = text.replace("    record: {W1.weights: initial}",
                        f"    record: {{W1.weights: initial, z1e.s: {mode}}}")
    text = text.replace("record: {count.counts: per_batch, z1e.s: spike_times, R.outputs: per_batch}",
                        f"record: {{count.counts: per_batch, z1e.s: {mode}, R.outputs: per_batch}}")
    assert text.count(f"z1e.s: {mode}") == 2, "the circuit's record lines changed; update this script"
    return text


def one(mode: str, epochs: int) -> dict:
    """Run one variant in this process and measure it."""
    import numpy as np

    import ngcspec

    circuit = ngcspec.load(circuit_text(mode))
    t0 = time.perf_counter()
    result = circuit.run(epochs=epochs)
    wall = time.perf_counter() - t0
    out = {"mode": mode, "epochs": epochs, "wall_s": wall,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "accuracy": result.final_metrics()["test"]["accuracy"]}
    for phase, steps, samples in (("train", 150, 1437), ("test", 300, 360)):
        rec = np.asarray(result.records[f"{phase}/z1e.s"])
        runs = epochs if phase == "train" else 1
        spikes = int(np.count_nonzero(rec)) if mode == "per_step" else len(rec)
        out[phase] = {"record_bytes": int(rec.nbytes), "shape": list(rec.shape), "spikes": spikes,
                      "in_program_bytes_per_run": steps * samples * (100 * 4 if mode == "per_step"
                                                                      else -(-100 // 8)),
                      "runs": runs}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.epochs)))
        return
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            proc = subprocess.run([sys.executable, __file__, "--one", mode, "--epochs",
                                   str(args.epochs)], capture_output=True, text=True, check=True)
            runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = []
    for mode, rs in runs.items():
        r = dict(rs[0])
        r["wall_s_all"] = [x["wall_s"] for x in rs]
        r["wall_s"] = float(sorted(r["wall_s_all"])[len(rs) // 2])
        r["peak_rss_mib"] = float(sorted(x["peak_rss_mib"] for x in rs)[len(rs) // 2])
        results.append(r)
    for r in results:
        walls = ", ".join(f"{w:.1f}" for w in r["wall_s_all"])
        print(f"{r['mode']:12s} wall {r['wall_s']:6.1f} s (median of {walls})  peak RSS "
              f"{r['peak_rss_mib']:7.0f} MiB  accuracy {r['accuracy']:.4f}")
        for phase in ("train", "test"):
            p = r[phase]
            print(f"    {phase:5s} record {p['record_bytes'] / 2**20:8.2f} MiB {tuple(p['shape'])}, "
                  f"{p['spikes']} spikes; in the program {p['in_program_bytes_per_run'] / 2**20:.2f} "
                  f"MiB per epoch")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
