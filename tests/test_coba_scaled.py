"""Initial values drawn in the circuit (``init: {v: {dist: ...}}``) and the scalable COBA
network circuits/coba_scaled.yaml, built at other sizes with ``ngcspec.load(...,
overrides=...)`` (benchmarks/bench_coba.py's ``scaled_overrides``)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import ngcspec
from ngcspec.errors import CircuitError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_coba import SCALED, scaled_overrides  # noqa: E402

CELLS = """
ngcspec: 1
name: drawn
seed: SEED
components:
  cells: {kind: LIFCell, n_units: 4000, tau_m: 20.0, init: {v: {dist: gaussian, mean: -65.0, std: 5.0}}}
  other: {kind: LIFCell, n_units: 4000, tau_m: 20.0, init: {v: {dist: uniform, low: -70.0, high: -60.0}}}
schedule: [reset, advance]
"""


def _v(seed):
    c = ngcspec.load(CELLS.replace("SEED", str(seed)))
    s = c.init_state()
    return np.asarray(s["cells"]["v"])[0], np.asarray(s["other"]["v"])[0], c


@pytest.mark.slow
def test_drawn_initial_values_follow_their_distribution_and_the_seed():
    v, u, c = _v(1)
    assert stats.kstest(v, stats.norm(-65.0, 5.0).cdf).pvalue > 1e-3
    assert stats.kstest(u, stats.uniform(-70.0, 10.0).cdf).pvalue > 1e-3
    again, _, _ = _v(1)
    np.testing.assert_array_equal(v, again)                         # the seed fixes them
    assert not np.allclose(_v(2)[0], v)
    # a reset restores them (they are the reset values, as a file's would be; drawn inside
    # each program, so to the rounding of its fused multiply-adds)
    state = c.init_state()
    state = {**state, "cells": {**state["cells"], "v": state["cells"]["v"] * 0.0}}
    again = c.program.reset(c.params, state, 1)
    np.testing.assert_allclose(np.asarray(again["cells"]["v"])[0], v, rtol=1e-6)


def test_a_bad_draw_is_a_located_error():
    bad = CELLS.replace("std: 5.0", "sd: 5.0")
    with pytest.raises(CircuitError, match=r"components\.cells\.init\.v.*sd"):
        ngcspec.load(bad)
    eye = CELLS.replace("std: 5.0}", "std: 5.0, hollow: true}")     # 2-D only
    with pytest.raises(CircuitError, match="hollow needs a 2-D shape"):
        ngcspec.load(eye)


def test_scaled_overrides_set_every_size():
    n = 100_000
    c = ngcspec.load(SCALED, overrides=scaled_overrides(n))
    comps = c.resolved.components
    exc, inh = comps["exc"].params, comps["inh"].params
    assert exc.shape == (n, n) and exc.pre_range == (0, 80_000)
    assert inh.pre_range == (80_000, n) and comps["cells"].params.n_units == n
    assert exc.p_conn == pytest.approx(80 / n) and comps["count"].params.n_units == n
    assert comps["exc"].shapes["targets"] == (80_000, exc.slots) and exc.slots < 150
    # the file itself is the 16,000 variant
    same = ngcspec.load(SCALED, overrides=scaled_overrides(16_000)).resolved.components
    base = ngcspec.load(SCALED).resolved.components
    assert {k: v.params for k, v in same.items()} == {k: v.params for k, v in base.items()}


@pytest.mark.slow
def test_coba_scaled_at_4000_is_active_and_irregular():
    c = ngcspec.load(SCALED, overrides=scaled_overrides(4000))
    r = c.run()
    counts = r.records["run/count.counts"].reshape(-1)
    rate = r.final_metrics()["run"]["rate"]
    assert 10.0 <= rate <= 30.0                                     # Hz, 1 s
    assert np.mean(counts > 0) > 0.8 and counts.max() < 180
    # about 80 inputs per neuron: in-degree of the E lists ~ Binomial(3200, 80/4000)
    t = np.asarray(c.init_state()["exc"]["targets"])
    in_e = np.bincount(t[t < 4000], minlength=4000)
    assert abs(in_e.mean() - 64.0) < 4 * np.sqrt(64.0 * 0.98 / 4000)
