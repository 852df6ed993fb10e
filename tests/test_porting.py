"""The conversions of docs/porting.md, each held against ngc-learn's stated update.

The ngc-learn side is written here in numpy from ngc-learn's own code (its advance_state
lines, quoted in the comments), not from ngcspec.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ngcspec

DT = 0.5
T = 60


def _spikes(seed=0, n=1):
    return (np.random.default_rng(seed).uniform(size=(T, n)) < 0.15).astype(np.float32)


def _conductance(tmp_path, kind: str, extra: str, g_syn_bar: float, spikes):
    np.save(tmp_path / "s.npy", spikes)
    (tmp_path / "c.yaml").write_text(f"""
ngcspec: 1
name: porting
dt: {DT}
components:
  syn: {{kind: {kind}, shape: [1, 1], g_syn_bar: {g_syn_bar!r}, syn_rest: null, {extra}}}
clamps: {{syn.inputs: {{stimulus: s.npy}}}}
schedule: [reset, {{advance: {T}}}]
run: {{record: {{syn.g_syn: per_step}}}}
""")
    result = ngcspec.load(tmp_path / "c.yaml").run()
    return np.asarray(result.records["run/syn.g_syn"])[0, :, 0, 0]


def test_alpha_conductance_is_ngclearns_with_g_bar_times_tau_over_dt(tmp_path):
    tau, g_bar = 5.0, 0.3
    spikes = _spikes()
    # ngc-learn AlphaSynapse.advance_state:
    #   dhsyn_dt = -h_syn/tau_decay + (s @ W * g_syn_bar) * (1/dt);  h_syn = h_syn + dhsyn_dt * dt
    #   dgsyn_dt = -g_syn/tau_decay + h_syn * (1/dt);                g_syn = g_syn + dgsyn_dt * dt
    h = g = 0.0
    want = []
    for t in range(T):
        h = h + (-h / tau + spikes[t, 0] * g_bar / DT) * DT
        g = g + (-g / tau + h / DT) * DT
        want.append(g)
    got = _conductance(tmp_path, "AlphaSynapse", f"tau_decay: {tau}", g_bar * tau / DT, spikes)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert max(want) > 0.5


def test_double_exp_conductance_is_ngclearns_with_g_bar_over_dt(tmp_path):
    tau_d, tau_r, g_bar = 8.0, 2.0, 0.4
    spikes = _spikes(1)
    # ngc-learn DoubleExpSynapse.advance_state (A = 1):
    #   dhsyn_dt = -h_syn/tau_rise + (s @ W * g_syn_bar) (1/tau_rise - 1/tau_decay) (1/dt)
    #   dgsyn_dt = -g_syn/tau_decay + h_syn * (1/dt);   both stepped by Euler with dt
    h = g = 0.0
    want = []
    for t in range(T):
        h = h + (-h / tau_r + spikes[t, 0] * g_bar * (1 / tau_r - 1 / tau_d) / DT) * DT
        g = g + (-g / tau_d + h / DT) * DT
        want.append(g)
    got = _conductance(tmp_path, "DoubleExpSynapse", f"tau_decay: {tau_d}, tau_rise: {tau_r}",
                       g_bar / DT, spikes)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert max(want) > 0.1


def test_time_of_last_spike_is_ngclearns_plus_dt(tmp_path):
    np.save(tmp_path / "j.npy", np.random.default_rng(2).uniform(10, 40, (T, 3)).astype(np.float32))
    (tmp_path / "c.yaml").write_text(f"""
ngcspec: 1
name: tols
dt: {DT}
components:
  z: {{kind: LIFCell, n_units: 3, tau_m: 10.0, tau_theta: 0.0, refract_time: 1.0}}
clamps: {{z.j: {{stimulus: j.npy}}}}
schedule: [reset, {{advance: {T}}}]
run: {{record: {{z.s: per_step, z.tols: per_step}}}}
""")
    result = ngcspec.load(tmp_path / "c.yaml").run()
    s = np.asarray(result.records["run/z.s"])[0, :, 0]
    tols = np.asarray(result.records["run/z.tols"])[0, :, 0]
    # ngc-learn: tols = (1 - s) * tols + s * t, with t the time handed to advance_state,
    # the start of the step (t = k dt at step k)
    ngc = np.zeros(3)
    for k in range(T):
        ngc = (1 - s[k]) * ngc + s[k] * (k * DT)
        np.testing.assert_allclose(np.where(tols[k] > 0, tols[k] - DT, 0.0),
                                   np.where(tols[k] > 0, ngc, 0.0), atol=1e-5)
    assert s[:, 0].sum() >= 2 and (tols[-1] > 0).all()


@pytest.mark.slow
def test_thresholding_scale_two_is_ngclearns_default():
    from ngcspec.regression import Iterative_Lasso
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 5))
    y = X @ np.array([[1.5], [0.0004], [-2.0], [0.0], [0.7]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a 30-epoch fit is not converged; it need not be
        model = Iterative_Lasso(dict_dim=5, sys_dim=1, lr=0.05, epochs=30, threshold=0.05)
        model.fit(X, y)
    old = np.array(model.coef_, copy=True)
    # ngc-learn Iterative_Lasso.thresholding(scale=2):
    #   new_coeff = where(|coef| >= threshold, coef, 0);  coef_ = new_coeff * scale
    want = np.where(np.abs(old) >= 0.05, old, 0.0) * 2
    got, before = model.thresholding(scale=2)
    np.testing.assert_allclose(before, old)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert (want == 0).any() and (want != 0).any()
