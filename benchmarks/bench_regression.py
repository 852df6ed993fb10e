"""Regression benchmark: the Hebbian regression circuits against scikit-learn's solvers.

Problem: the diabetes data (442 samples, 10 standardised features, shipped with ngcspec and
bundled with scikit-learn), with an intercept. Each ngcspec module is set up to minimise the
same objective as a scikit-learn estimator (the mappings of ngcspec.regression):

    ridge        Iterative_Ridge(ridge_lmbda=1, sgd, lr='auto', 300 epochs, float64)
                 vs Ridge(alpha=1)                                         (closed form)
    lasso-prox   Iterative_Lasso(lasso_lmbda=44.2, proximal sgd, lr='auto', 1000 epochs,
                 float64)  vs Lasso(alpha=0.1)                             (coordinate descent)
    lasso-adam   Iterative_Lasso(lasso_lmbda=44.2, adam, lr=1, 3000 epochs, float32)
                 vs Lasso(alpha=0.1)
    elastic-net  Iterative_ElasticNet(lmbda=5, l1_ratio=0.5, sgd, lr='auto', 1000 epochs,
                 float64)  vs ElasticNet(alpha=0.0084842, l1_ratio=2/3)

The epochs are what each needs to reach the acceptance accuracy (Ridge 1e-4, the others
1e-2 relative to scikit-learn's coefficients; the error is reported). Timed, per row:

* ``compile``: the first fit (trace + XLA compile + run);
* ``fit``: ``module.fit(X, y)`` with a warm program (``warm_start=False``, so every fit
  starts again from weight_fill: the full work), median over repeats;
* ``call``: only the compiled program (all epochs, one call), median;
* ``sklearn``: ``estimator.fit(X, y)`` with its default tolerance, median;

and ``ratio`` = fit / sklearn (medians); the best of the repeats is printed too (the machine
may be shared). Calls are interleaved (ngcspec, sklearn, ngcspec, ...) so the
noise of a shared machine hits both alike. A second table times ngc-learn's T = 100 advance
steps per epoch against the single step ngcspec uses (same weights, checked).

    python benchmarks/bench_regression.py            # about a minute on 2 CPU cores
    python benchmarks/bench_regression.py --quick
    python benchmarks/bench_regression.py --json out.json
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
import warnings
from pathlib import Path

import numpy as np


def _versions() -> dict:
    import jax
    import sklearn

    import ngcspec
    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": getattr(jax.lib, "__version__", "?") if hasattr(jax, "lib") else "?",
            "numpy": np.__version__, "sklearn": sklearn.__version__,
            "ngcspec": ngcspec.__version__, "backend": jax.default_backend(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.uname().machine}


def _rows():
    from sklearn.linear_model import ElasticNet, Lasso, Ridge

    from ngcspec.regression import Iterative_ElasticNet, Iterative_Lasso, Iterative_Ridge
    common = dict(fit_intercept=True, warm_start=False)
    return [
        ("ridge", lambda: Iterative_Ridge(0, "ridge", 1, 10, ridge_lmbda=1.0, lr="auto",
                                          optim_type="sgd", epochs=300, dtype="float64",
                                          **common),
         lambda: Ridge(alpha=1.0), 1e-4),
        ("lasso-prox", lambda: Iterative_Lasso(0, "lasso", 1, 10, lasso_lmbda=44.2, lr="auto",
                                               optim_type="sgd", epochs=1000, proximal=True,
                                               dtype="float64", **common),
         lambda: Lasso(alpha=44.2 / 442), 1e-2),
        ("lasso-adam", lambda: Iterative_Lasso(0, "lasso", 1, 10, lasso_lmbda=44.2, lr=1.0,
                                               optim_type="adam", epochs=3000, threshold=5.0,
                                               **common),
         lambda: Lasso(alpha=44.2 / 442), 1e-2),
        ("elastic-net", lambda: Iterative_ElasticNet(0, "en", 1, 10, lmbda=5.0, l1_ratio=0.5,
                                                     lr="auto", optim_type="sgd", epochs=1000,
                                                     dtype="float64", **common),
         lambda: ElasticNet(alpha=5.0 * 1.5 / (2 * 442), l1_ratio=2 / 3), 1e-2),
    ]


def _reference(est_factory, X, y):
    est = est_factory()
    if hasattr(est, "tol") and type(est).__name__ != "Ridge":
        est.set_params(tol=1e-14, max_iter=1_000_000)
    return est.fit(X, y).coef_


def bench_solvers(X, y, repeats: int) -> list[dict]:
    from ngcspec.compiler import precision
    from ngcspec.lazy import jax, jnp
    out = []
    for name, make, make_sk, target in _rows():
        mod = make()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod.fit(X, y)
        compile_s = time.perf_counter() - t0
        ref = _reference(make_sk, X, y)
        err = float(np.linalg.norm(mod.coef_ - ref) / np.linalg.norm(ref))
        # the compiled call alone, on the arguments fit() passes
        comp = mod._compiled
        Xc, yc = X - X.mean(0), (y - y.mean())[:, None]
        upd, thr = mod._numeric_params(mod.lr_)
        circ = comp.circuit.with_params(**upd)
        with precision(mod.dtype):
            dt = jnp.dtype(mod.dtype)
            data = {"x": jnp.asarray(Xc, dt), "y": jnp.asarray(yc, dt)}
            state0 = circ.init_state(batch_size=X.shape[0])
            thr = jnp.asarray(thr, dt)
        fit_t, call_t, sk_t = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod.fit(X, y)
            fit_t.append(time.perf_counter() - t0)
            with precision(mod.dtype):
                t0 = time.perf_counter()
                jax.block_until_ready(comp.fit_fn(circ.params, state0, data, 0, thr))
                call_t.append(time.perf_counter() - t0)
            est = make_sk()
            t0 = time.perf_counter()
            est.fit(X, y)
            sk_t.append(time.perf_counter() - t0)
        fit_s, call_s, sk_s = (statistics.median(v) for v in (fit_t, call_t, sk_t))
        fit_min, call_min, sk_min = (min(v) for v in (fit_t, call_t, sk_t))
        sk_err = float(np.linalg.norm(est.coef_ - ref) / np.linalg.norm(ref))
        out.append({"problem": name, "epochs": mod.epochs, "dtype": mod.dtype,
                    "optim": mod.optim_type + ("+prox" if mod.proximal else ""),
                    "sklearn": type(est).__name__, "compile_s": compile_s, "fit_s": fit_s,
                    "call_s": call_s, "us_per_epoch": 1e6 * call_s / mod.epochs,
                    "sklearn_s": sk_s, "ratio": fit_s / sk_s, "rel_err": err,
                    "fit_min_s": fit_min, "call_min_s": call_min, "sklearn_min_s": sk_min,
                    "sklearn_default_tol_rel_err": sk_err, "target": target,
                    "ok": err < target})
    return out


def bench_steps(X, y, repeats: int, epochs: int) -> list[dict]:
    """ngc-learn's T = 100 identical advance steps per epoch versus one."""
    import ngcspec
    from ngcspec.compiler import precision
    from ngcspec.lazy import jax
    from ngcspec.regression import circuit_yaml
    rows, weights = [], {}
    Xc, yc = X - X.mean(0), (y - y.mean())[:, None]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        np.savez(path, x=Xc, y=yc)
        for T in (100, 1):
            text = circuit_yaml(sys_dim=1, dict_dim=10, epochs=epochs, prior=("l1", 44.2, 0.5),
                                lr=1.0, optim_type="adam", data={"file": str(path),
                                                                 "batch_size": 442},
                                steps_per_epoch=T)
            circ = ngcspec.load(text)
            fn = jax.jit(circ.epoch_fn("fit"))
            pp = circ.program.phase("fit")
            with precision(circ.program.dtype):
                state = circ.init_state()
                t0 = time.perf_counter()
                out_state, _ = jax.block_until_ready(fn(circ.params, state, pp.device_data(), 0, 0))
                compile_s = time.perf_counter() - t0
                ts = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    jax.block_until_ready(fn(circ.params, state, pp.device_data(), 0, 0))
                    ts.append(time.perf_counter() - t0)
            weights[T] = np.asarray(out_state["W"]["weights"])
            rows.append({"steps_per_epoch": T, "epochs": epochs, "compile_s": compile_s,
                         "call_s": statistics.median(ts)})
    same = bool(np.array_equal(weights[100], weights[1]))
    for r in rows:
        r["same_weights"] = same
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 21)

    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True)

    info = _versions()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"command: python benchmarks/bench_regression.py{' --quick' if args.quick else ''}"
          f"  (repeats {repeats}, medians)\n")
    rows = bench_solvers(X, y, repeats)
    hdr = (f"{'problem':12} {'optimizer':9} {'dtype':7} {'epochs':>6} {'compile s':>9} "
           f"{'fit ms':>8} {'call ms':>8} {'us/epoch':>8} {'sklearn ms':>10} {'ratio':>6} "
           f"{'rel err':>8}   (best of n: fit / call / sklearn ms)")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['problem']:12} {r['optim']:9} {r['dtype']:7} {r['epochs']:6d} "
              f"{r['compile_s']:9.2f} {1e3 * r['fit_s']:8.2f} {1e3 * r['call_s']:8.2f} "
              f"{r['us_per_epoch']:8.2f} {1e3 * r['sklearn_s']:10.3f} {r['ratio']:6.1f} "
              f"{r['rel_err']:8.1e}   ({1e3 * r['fit_min_s']:.2f} / {1e3 * r['call_min_s']:.2f} / "
              f"{1e3 * r['sklearn_min_s']:.3f}){'' if r['ok'] else '  (above target!)'}")
    steps = bench_steps(X, y, repeats, epochs=1000)
    print("\nngc-learn's 100 advance steps per epoch vs 1 (lasso, adam, 1000 epochs, float32):")
    for r in steps:
        print(f"  T = {r['steps_per_epoch']:3d}: compile {r['compile_s']:.2f} s, "
              f"call {1e3 * r['call_s']:.2f} ms, identical weights: {r['same_weights']}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "solvers": rows, "steps": steps},
                                        indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
