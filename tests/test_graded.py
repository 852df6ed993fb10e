"""Graded neurons against numpy restatements of components.md §4.1-4.6.

Every expected value comes from the reference equations written out here in numpy, from a
closed form, or from numbers worked by hand; one test per ngc-learn bug that ngcspec fixes.
"""

import subprocess
import sys

import jax
import numpy as np
import pytest
from pydantic import ValidationError
from scipy.integrate import solve_ivp

from ngcspec.components import activations
from ngcspec.components.integrators import ORDER
from ngcspec.registry import StepContext, get_kind
from ngcspec.single import Single

jnp = jax.numpy
lax = jax.lax

GRADED = ["RateCell", "GaussianErrorCell", "LaplacianErrorCell", "BernoulliErrorCell",
          "LeakyNoiseCell", "RewardErrorCell"]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def cell(kind, **kw):
    kw.setdefault("dtype", "float64")
    return Single(kind, **kw)


def arr(x):
    return np.asarray(x, dtype=np.float64)


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------------------------
# The registry contract

@pytest.mark.parametrize("kind", GRADED)
def test_kind_is_registered_and_documented(kind):
    cls = get_kind(kind)
    assert cls is not None and cls.family == "graded neurons"
    assert "Deviations from ngc-learn" in cls.__doc__
    fields = cls.Params.model_fields
    assert "batch_size" not in fields
    assert all(f.description for f in fields.values()), kind
    cls.Params.model_json_schema()   # every parameter has a JSON Schema


def test_validation_does_not_import_jax():
    code = ("import sys, ngcspec.components.graded as g; "
            "g.RateCell.check(g.RateCell.Params(n_units=2, tau_m=0, act_fx='softmax')); "
            "assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# RateCell

def test_rate_cell_verified_trajectory():
    # tau = 50, j = 1, z0 = 0, Euler with dt = 1: z = 0.02 k (upstream test_RateCell).
    c = Single("RateCell", n_units=1, tau_m=50.0)
    zs = [float(c.advance(j=1.0)["z"][0, 0]) for _ in range(10)]
    np.testing.assert_allclose(zs, 0.02 * np.arange(1, 11), rtol=1e-6)


PRIOR_SCORE = {
    "gaussian": lambda z: z,
    "laplacian": np.sign,
    "cauchy": lambda z: 2 * z / (1 + z**2),
    "exp": lambda z: 2 * z * np.exp(-z**2),
}


@pytest.mark.slow
@pytest.mark.parametrize("prior", list(PRIOR_SCORE))
def test_rate_cell_euler_step_with_each_prior(x64, prior):
    z0 = arr([[-1.3, -0.2, 0.0, 0.4, 2.1]])
    j = arr([[0.5, -1.0, 2.0, 0.3, -0.7]])
    j_td = arr([[0.1, 0.2, -0.3, 0.0, 1.5]])
    tau, gamma, dt, rs, os_ = 7.0, 0.6, 0.5, 1.7, 2.5
    c = cell("RateCell", n_units=5, tau_m=tau, prior=[prior, gamma], act_fx="tanh",
             resist_scale=rs, output_scale=os_, dt=dt)
    c.set(z=z0)
    out = c.advance(j=j, j_td=j_td)
    j_mod = j * (1 - np.tanh(z0) ** 2) * rs      # f'(z) at the current z, on j only
    z1 = z0 + dt / tau * (-gamma * PRIOR_SCORE[prior](z0) + j_mod + j_td)
    np.testing.assert_allclose(np.asarray(out["z"]), z1, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(out["zF"]), np.tanh(z1) * os_, rtol=1e-13)


def test_rate_cell_modulates_j_but_not_j_td(x64):
    # relu'(z) = 0 for z < 0 silences j; j_td still drives z.
    c = cell("RateCell", n_units=2, tau_m=2.0, act_fx="relu")
    c.set(z=[[-1.0, 1.0]])
    out = c.advance(j=[[5.0, 5.0]], j_td=[[1.0, 1.0]])
    np.testing.assert_allclose(np.asarray(out["z"]), [[-1.0 + 0.5 * 1.0, 1.0 + 0.5 * 6.0]])


def test_rate_cell_does_not_write_the_modulated_j_back(x64):
    # ngc-learn stores j * f'(z) into j, overwriting the upstream synapse's outputs.
    c = cell("RateCell", n_units=2, tau_m=2.0, act_fx="relu", resist_scale=3.0)
    c.set(z=[[-1.0, 1.0]])
    ctx = StepContext(dt=jnp.asarray(1.0), t=jnp.asarray(0.0), key=None, batch_size=1)
    changed = c.kind.advance(c.p, {**c.state, "j": jnp.asarray([[5.0, 5.0]])}, ctx)
    assert set(changed) == {"z", "zF"}


# dz/dt = (1 - z)/2 from z = 0, dt = 1: the integrator numbers of components.md §2.3, fixed.
RATE_LINEAR = {"euler": 0.5, "midpoint": 0.375, "heun": 0.375, "ralston": 0.375,
               "rk4": 1 - (1 - 0.5 + 0.5**2 / 2 - 0.5**3 / 6 + 0.5**4 / 24),
               "rk1": 0.5, "rk2": 0.375, "rk2_heun": 0.375, "rk2_ralston": 0.375}


@pytest.mark.slow
@pytest.mark.parametrize("method", list(RATE_LINEAR))
def test_rate_cell_integrators(x64, method):
    c = cell("RateCell", n_units=1, tau_m=2.0, prior=["gaussian", 1.0], integration_type=method)
    assert float(c.advance(j=1.0)["z"][0, 0]) == pytest.approx(RATE_LINEAR[method], abs=1e-12)


def test_rate_cell_rk4_and_heun_run_what_they_name(x64):
    # ngc-learn: "rk4" -> Euler (0.5), "heun" -> RK4 (0.39323).
    def z1(method):
        c = cell("RateCell", n_units=1, tau_m=2.0, prior=["gaussian", 1.0],
                 integration_type=method)
        return float(c.advance(j=1.0)["z"][0, 0])
    assert z1("rk4") == pytest.approx(0.3932291667, abs=1e-9)
    assert z1("heun") == pytest.approx(0.375, abs=1e-12)


@pytest.mark.parametrize("method", ["euler", "midpoint", "heun", "ralston", "rk4"])
def test_rate_cell_convergence_order(x64, method):
    # dz/dt = 1 - 2 z exp(-z^2) (exp prior, gamma = 1, j = 1, tau = 1), reference by DOP853.
    t_end = 2.0
    ref = solve_ivp(lambda t, z: 1 - 2 * z * np.exp(-z**2), (0, t_end), [0.0],
                    method="DOP853", rtol=1e-13, atol=1e-14).y[0, -1]
    c = cell("RateCell", n_units=1, tau_m=1.0, prior=["exp", 1.0], integration_type=method)
    c.set(j=1.0)

    @jax.jit   # the component's own advance, looped; dt and n are arguments (one compile)
    def final(dt, n):
        ctx = StepContext(dt=dt, t=jnp.asarray(0.0), key=None, batch_size=1)
        return lax.fori_loop(0, n, lambda i, s: {**s, **c.kind.advance(c.p, s, ctx)},
                             c.state)["z"][0, 0]

    dts = 2.0 ** -np.arange(3, 9)
    errors = [abs(float(final(dt, int(round(t_end / dt)))) - ref) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - ORDER[method]) < 0.15, (method, slope, errors)


@pytest.mark.parametrize("tau_m", [0, 0.0, -3.0])
def test_rate_cell_stateless_mode(x64, tau_m):
    # z = j + j_td: no f' modulation, resist_scale, prior or threshold; zF = f(z) * scale.
    c = cell("RateCell", n_units=3, tau_m=tau_m, act_fx="tanh", output_scale=2.0,
             resist_scale=5.0, prior=["laplacian", 3.0], threshold=["soft_threshold", 10.0])
    c.set(z=[[9.0, 9.0, 9.0]])
    out = c.advance(j=[[1.0, -2.0, 0.5]], j_td=[[0.25, 0.5, -3.0]])
    z = arr([[1.25, -1.5, -2.5]])
    np.testing.assert_allclose(np.asarray(out["z"]), z)
    np.testing.assert_allclose(np.asarray(out["zF"]), 2.0 * np.tanh(z), rtol=1e-13)


def test_rate_cell_integer_zero_tau_is_stateless():
    # ngc-learn keeps an integer tau_m = 0 stateful and divides by zero (z = inf).
    model = get_kind("RateCell").Params(n_units=2, tau_m=0)
    assert dict(get_kind("RateCell").structure(model))["stateless"]
    out = Single("RateCell", n_units=2, tau_m=0).advance(j=[[1.0, 2.0]])
    np.testing.assert_allclose(np.asarray(out["z"]), [[1.0, 2.0]])


def test_rate_cell_is_stateful_false_forces_stateless(x64):
    c = cell("RateCell", n_units=1, tau_m=10.0, is_stateful=False)
    assert float(c.advance(j=3.0)["z"][0, 0]) == 3.0


def test_rate_cell_soft_threshold(x64):
    c = cell("RateCell", n_units=4, tau_m=1.0, threshold=["soft_threshold", 0.5])
    out = c.advance(j=[[2.0, -2.0, 0.3, -0.45]])      # Euler from 0 with dt = tau: z = j
    z = arr([[2.0, -2.0, 0.3, -0.45]])
    np.testing.assert_allclose(np.asarray(out["z"]), np.sign(z) * np.maximum(np.abs(z) - 0.5, 0))


def test_rate_cell_cauchy_threshold(x64):
    lam = 0.81                                        # sqrt(lam) = 0.9
    # (no entry sits exactly on the gate z^2 = lam, where compiled and numpy rounding differ)
    z = arr([[2.0, -1.5, 0.95, -0.91, 0.85, 0.0, -0.1]])
    c = cell("RateCell", n_units=7, tau_m=1.0, threshold=["cauchy_threshold", lam])
    u = np.asarray(c.advance(j=z)["z"])
    live = z**2 >= lam
    np.testing.assert_array_equal(u[~live], 0.0)
    # Where kept, u is the larger root of u^2 - |z| u + lam/4 = 0, with the sign of z.
    a = np.abs(u[live])
    np.testing.assert_allclose(a**2 - np.abs(z[live]) * a + lam / 4, 0.0, atol=1e-12)
    assert (a >= np.abs(z[live]) / 2).all() and (np.sign(u[live]) == np.sign(z[live])).all()
    # Hand value: z = 2 -> (2 + sqrt(4 - 0.81)) / 2.
    assert u[0, 0] == pytest.approx((2 + np.sqrt(3.19)) / 2)


@pytest.mark.slow
def test_cauchy_threshold_gradient_is_finite(x64):
    from ngcspec.components.graded import cauchy_threshold
    g = jax.grad(lambda z: jnp.sum(cauchy_threshold(z, 1.0)))(jnp.asarray([0.5, 2.0]))
    assert np.isfinite(np.asarray(g)).all()


@pytest.mark.slow
@pytest.mark.parametrize("act", [n for n in activations.NAMES])
def test_rate_cell_output_uses_each_activation(x64, act):
    # Stateless, so zF = f(j) * output_scale for every name, softmax included.
    j = arr([[-1.2, 0.3, 0.9, 2.2, -0.1, 1.7]])
    c = cell("RateCell", n_units=6, tau_m=0.0, act_fx=act, output_scale=1.5)
    f, _ = activations.get(act)
    np.testing.assert_allclose(np.asarray(c.advance(j=j)["zF"]),
                               1.5 * np.asarray(f(jnp.asarray(j))), rtol=1e-13)


def test_rate_cell_sine_uses_omega_0(x64):
    c = cell("RateCell", n_units=1, tau_m=0.0, act_fx="sine", omega_0=2.0)
    assert float(c.advance(j=0.3)["zF"][0, 0]) == pytest.approx(np.sin(0.6))


def test_rate_cell_rejects_softmax_when_stateful():
    cls = get_kind("RateCell")
    problems = cls.check(cls.Params(n_units=3, tau_m=10.0, act_fx="softmax"))
    assert [name for name, _ in problems] == ["act_fx"] and "Jacobian" in problems[0][1]
    assert cls.check(cls.Params(n_units=3, tau_m=0.0, act_fx="softmax")) == []
    assert cls.check(cls.Params(n_units=3, tau_m=10.0, act_fx="softmax",
                                is_stateful=False)) == []


def test_rate_cell_image_shape(x64):
    cls = get_kind("RateCell")
    c = cell("RateCell", n_units=12, tau_m=4.0, shape=[2, 3, 2], batch_size=2, act_fx="tanh")
    assert all(v.shape == (2, 2, 3, 2) for v in c.state.values())
    j = np.random.default_rng(1).normal(size=(2, 2, 3, 2))
    out = c.advance(j=j)
    np.testing.assert_allclose(np.asarray(out["z"]), j / 4.0, rtol=1e-13)   # f'(0) = 1
    bad = cls.check(cls.Params(n_units=10, tau_m=4.0, shape=[2, 3, 2]))
    assert [name for name, _ in bad] == ["shape"]


def test_rate_cell_parameter_forms():
    P = get_kind("RateCell").Params
    assert P(n_units=1, tau_m=1.0).prior.name == "gaussian"
    p = P(n_units=1, tau_m=1.0, prior=["laplacian", 0.001], threshold=("soft_threshold", 5e-3))
    assert (p.prior.name, p.prior.leak, p.threshold.lmbda) == ("laplacian", 0.001, 5e-3)
    assert P(n_units=1, tau_m=1, prior={"name": "cauchy", "leak": 1}).prior.leak == 1.0
    for bad in [dict(prior=["student", 1.0]), dict(prior=["gaussian", 1.0, 2.0]),
                dict(integration_type="rk45"), dict(act_fx="swish"), dict(batch_size=4),
                dict(threshold=["hard", 1.0])]:
        with pytest.raises(ValidationError):
            P(n_units=1, tau_m=1.0, **bad)


def test_rate_cell_pair_parameters_in_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = get_kind("RateCell").Params.model_json_schema()
    ok = jsonschema.Draft202012Validator(schema)
    for prior in (["laplacian", 0.1], {"name": "cauchy", "leak": 1}):
        ok.validate({"n_units": 3, "tau_m": 1.0, "prior": prior})
    for prior in (["student", 0.1], ["gaussian", 0.1, 3], {"name": "exp", "gamma": 1}):
        assert not ok.is_valid({"n_units": 3, "tau_m": 1.0, "prior": prior})


def test_rate_cell_leak_and_tau_are_traced():
    from ngcspec.params import numeric_leaves
    leaves = numeric_leaves(get_kind("RateCell").Params(n_units=1, tau_m=1.0))
    assert leaves["tau_m"] == 1.0 and leaves["prior"] == {"leak": 0.0}
    assert leaves["threshold"] == {"lmbda": 0.0}


def test_rate_cell_reset(x64):
    c = cell("RateCell", n_units=2, tau_m=1.0)
    c.advance(j=1.0)
    c.reset()
    assert all(float(jnp.abs(v).sum()) == 0 for v in c.state.values())


# ---------------------------------------------------------------------------------------------
# Error cells

RNG = np.random.default_rng(7)
MU = RNG.normal(size=(2, 4))
TARGET = RNG.normal(size=(2, 4))
MOD = RNG.uniform(0.5, 2.0, size=(2, 4))
MASK = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]])


def test_gaussian_error_cell(x64):
    sigma = 2.0                                 # used as the variance, not squared
    c = cell("GaussianErrorCell", n_units=4, sigma=sigma, batch_size=2)
    out = c.advance(mu=MU, target=TARGET, modulator=MOD, mask=MASK)
    e = TARGET - MU
    np.testing.assert_allclose(np.asarray(out["dmu"]), e / sigma * MOD * MASK, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(out["dtarget"]), -e / sigma * MOD * MASK, rtol=1e-13)
    assert float(out["L"]) == pytest.approx(-0.5 * np.sum(e**2) / sigma, rel=1e-13)  # unmasked
    assert float(out["dSigma"]) == pytest.approx(0.5 * np.sum(e**2) / sigma**2, rel=1e-13)


def test_gaussian_dsigma_is_the_derivative_of_L(x64):
    # ngc-learn emits a constant 1; check against a finite difference of L in Sigma.
    def loss(var):
        c = cell("GaussianErrorCell", n_units=4, batch_size=2)
        return c.advance(mu=MU, target=TARGET, Sigma=var)
    h = 1e-6
    fd = (float(loss(1.5 + h)["L"]) - float(loss(1.5 - h)["L"])) / (2 * h)
    assert float(loss(1.5)["dSigma"]) == pytest.approx(fd, rel=1e-7)


def test_gaussian_sigma_reset_and_drive(x64):
    c = cell("GaussianErrorCell", n_units=4, sigma=3.0, batch_size=2)
    assert float(c["Sigma"]) == 3.0
    out = c.advance(mu=MU, target=TARGET, Sigma=0.5)
    np.testing.assert_allclose(np.asarray(out["dmu"]), (TARGET - MU) / 0.5, rtol=1e-13)
    c.reset()
    assert float(c["Sigma"]) == 3.0
    np.testing.assert_array_equal(np.asarray(c["modulator"]), 1.0)
    np.testing.assert_array_equal(np.asarray(c["mask"]), 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("kind,pred,deriv", [("GaussianErrorCell", "mu", "dmu"),
                                              ("LaplacianErrorCell", "shift", "dshift"),
                                              ("BernoulliErrorCell", "p", "dp")])
def test_mask_is_eaten_after_one_step_but_modulator_stays(x64, kind, pred, deriv):
    prob = sig(MU)                              # valid input for every cell
    c = cell(kind, n_units=4, batch_size=2)
    first = c.advance(**{pred: prob, "target": (TARGET > 0) * 1.0}, mask=MASK, modulator=MOD)
    np.testing.assert_array_equal(np.asarray(first[deriv])[MASK == 0], 0.0)
    np.testing.assert_array_equal(np.asarray(c["mask"]), 1.0)
    second = c.advance()
    np.testing.assert_allclose(np.asarray(second[deriv]),
                               np.asarray(first[deriv]) + (MASK == 0) * np.asarray(second[deriv]))
    assert (np.asarray(second[deriv])[MASK == 0] != 0).all()
    np.testing.assert_array_equal(np.asarray(c["modulator"]), MOD)


def test_gaussian_error_cell_image_shape(x64):
    c = cell("GaussianErrorCell", n_units=8, shape=[2, 2, 2], batch_size=3)
    assert c["mu"].shape == (3, 2, 2, 2) and c["L"].shape == ()
    t = np.ones((3, 2, 2, 2))
    assert float(c.advance(target=t)["L"]) == pytest.approx(-0.5 * 24)


def test_laplacian_error_cell(x64):
    scale = 2.0
    c = cell("LaplacianErrorCell", n_units=4, scale=scale, batch_size=2)
    out = c.advance(shift=MU, target=TARGET, modulator=MOD, mask=MASK)
    e = TARGET - MU
    np.testing.assert_allclose(np.asarray(out["dshift"]), np.sign(e) / scale * MOD * MASK)
    np.testing.assert_allclose(np.asarray(out["dtarget"]), -np.sign(e) / scale * MOD * MASK)
    assert float(out["L"]) == pytest.approx(-np.sum(np.abs(e)) / scale, rel=1e-13)
    assert float(out["dScale"]) == pytest.approx(np.sum(np.abs(e)) / scale**2, rel=1e-13)


def test_laplacian_loss_is_the_l1_norm_not_a_count(x64):
    # Errors (3, -2, 0.5): ngc-learn reports L = -3 (it sums |sign(e)|); the L1 loss is -5.5.
    c = cell("LaplacianErrorCell", n_units=3)
    out = c.advance(target=[[3.0, -2.0, 0.5]])
    assert float(out["L"]) == pytest.approx(-5.5)


def test_bernoulli_error_cell_probabilities(x64):
    p = arr([[0.2, 0.7, 0.5, 0.9], [0.05, 0.6, 0.3, 0.99]])
    x = arr([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    c = cell("BernoulliErrorCell", n_units=4, batch_size=2)
    out = c.advance(p=p, target=x, modulator=MOD, mask=MASK)
    dp = x / p - (1 - x) / (1 - p)
    np.testing.assert_allclose(np.asarray(out["dp"]), dp * MOD * MASK, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(out["dtarget"]), np.log(p / (1 - p)) * MOD * MASK,
                               rtol=1e-12)
    assert float(out["L"]) == pytest.approx(np.sum(x * np.log(p) + (1 - x) * np.log(1 - p)))


@pytest.mark.slow
def test_bernoulli_dp_has_no_spurious_sigmoid_factor(x64):
    # ngc-learn multiplies dL/dp by sigmoid'(p) when p holds probabilities.
    p, x, h = 0.3, 1.0, 1e-6
    def loss(q):
        return float(cell("BernoulliErrorCell", n_units=1).advance(p=q, target=x)["L"])
    out = cell("BernoulliErrorCell", n_units=1).advance(p=p, target=x)
    fd = (loss(p + h) - loss(p - h)) / (2 * h)
    assert float(out["dp"][0, 0]) == pytest.approx(fd, rel=1e-7)
    assert float(out["dp"][0, 0]) == pytest.approx(1 / 0.3)
    assert float(out["dp"][0, 0]) != pytest.approx(sig(p) * (1 - sig(p)) / 0.3)


@pytest.mark.slow
def test_bernoulli_error_cell_logits(x64):
    logits = arr([[-2.0, 0.0, 1.5, 4.0]])
    x = arr([[0.0, 1.0, 1.0, 0.0]])
    out = cell("BernoulliErrorCell", n_units=4, input_logits=True).advance(p=logits, target=x)
    q = sig(logits)
    np.testing.assert_allclose(np.asarray(out["dp"]), x - q, rtol=1e-12)
    assert float(out["L"]) == pytest.approx(np.sum(x * np.log(q) + (1 - x) * np.log(1 - q)))
    # dp is dL/dlogit.
    h = 1e-6
    def loss(z):
        return float(cell("BernoulliErrorCell", n_units=4, input_logits=True)
                     .advance(p=z, target=x)["L"])
    fd = [(loss(logits + h * e) - loss(logits - h * e)) / (2 * h) for e in np.eye(4)[:, None]]
    np.testing.assert_allclose(np.asarray(out["dp"])[0], fd, rtol=1e-6)


def test_bernoulli_clips_probabilities(x64):
    out = cell("BernoulliErrorCell", n_units=2).advance(p=[[0.0, 1.0]], target=[[1.0, 1.0]])
    q = arr([[1e-4, 1 - 1e-4]])
    assert float(out["L"]) == pytest.approx(np.sum(np.log(q)))
    np.testing.assert_allclose(np.asarray(out["dp"]), 1 / q)


# ---------------------------------------------------------------------------------------------
# LeakyNoiseCell

@pytest.mark.slow
def test_leaky_noise_cell_without_noise(x64):
    tau, dt, leak = 10.0, 0.5, 1.5
    x0 = arr([[-0.4, 0.2, 1.0]])
    ji, jr = arr([[1.0, -2.0, 0.5]]), arr([[0.3, 0.3, -1.0]])
    c = cell("LeakyNoiseCell", n_units=3, tau_x=tau, sigma_pre=0.0, sigma_post=0.0,
             leak_scale=leak, dt=dt)
    c.set(x=x0)
    out = c.advance(j_input=ji, j_recurrent=jr)
    x1 = x0 + dt / tau * (-leak * x0 + ji + jr)
    np.testing.assert_allclose(np.asarray(out["x"]), x1, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(out["r"]), np.maximum(x1, 0))
    np.testing.assert_allclose(np.asarray(out["r_prime"]), (x1 >= 0) * 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("method,expected", [("ralston", 0.375), ("rk4", 0.3932291666666667)])
def test_leaky_noise_cell_integrators(x64, method, expected):
    # ngc-learn raises KeyError for ralston and rk4 here. dx/dt = (1 - x)/2 from 0, dt = 1.
    c = cell("LeakyNoiseCell", n_units=1, tau_x=2.0, sigma_pre=0.0, sigma_post=0.0,
             integration_type=method)
    assert float(c.advance(j_input=1.0)["x"][0, 0]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_leaky_noise_statistics_and_independence(x64):
    n, tau, dt, s_pre, s_post = 20000, 8.0, 1.0, 0.5, 0.3
    c = cell("LeakyNoiseCell", n_units=n, tau_x=tau, act_fx="identity", sigma_pre=s_pre,
             sigma_post=s_post, seed=11)
    out = c.advance()
    # From x = 0 with no input: x1 = dt/tau * sqrt(2 tau s_pre^2) eps_pre; r = x1 + s_post eps_post.
    pre_std = dt / tau * np.sqrt(2 * tau * s_pre**2)
    eps_pre = np.asarray(out["x"])[0] / pre_std
    eps_post = (np.asarray(out["r"]) - np.asarray(out["x"]))[0] / s_post
    tol = 5 / np.sqrt(n)
    for eps in (eps_pre, eps_post):
        assert abs(eps.mean()) < tol and abs(eps.std() - 1) < tol
    # ngc-learn draws both from one subkey, so the correlation would be exactly 1.
    assert abs(np.corrcoef(eps_pre, eps_post)[0, 1]) < tol
    # A second step draws fresh noise.
    x_before = np.asarray(out["x"]).copy()
    eps2 = (np.asarray(c.advance()["x"]) - x_before * (1 - dt / tau))[0] / pre_std
    assert abs(np.corrcoef(eps_pre, eps2)[0, 1]) < tol


@pytest.mark.slow
def test_leaky_noise_same_seed_same_numbers():
    a = Single("LeakyNoiseCell", n_units=4, tau_x=5.0, seed=3).advance(j_input=1.0)
    b = Single("LeakyNoiseCell", n_units=4, tau_x=5.0, seed=3).advance(j_input=1.0)
    c = Single("LeakyNoiseCell", n_units=4, tau_x=5.0, seed=4).advance(j_input=1.0)
    np.testing.assert_array_equal(np.asarray(a["r"]), np.asarray(b["r"]))
    assert not np.array_equal(np.asarray(a["r"]), np.asarray(c["r"]))


def test_leaky_noise_rejects_softmax():
    cls = get_kind("LeakyNoiseCell")
    assert [n for n, _ in cls.check(cls.Params(n_units=2, tau_x=1.0, act_fx="softmax"))] == \
        ["act_fx"]
    with pytest.raises(ValidationError):
        cls.Params(n_units=2, tau_x=0.0)


# ---------------------------------------------------------------------------------------------
# RewardErrorCell

REWARDS = arr([[1.0, 0.0], [0.5, 2.0], [0.0, -1.0], [3.0, 1.0]])


def test_reward_error_cell_online_ema(x64):
    alpha = 0.3
    c = cell("RewardErrorCell", n_units=2, alpha=alpha)
    mu, acc = np.zeros(2), np.zeros(2)
    for k, r in enumerate(REWARDS, start=1):
        out = c.advance(reward=r[None])
        rpe = r - mu                                     # against the previous prediction
        mu = (1 - alpha) * mu + alpha * r
        acc = acc + r
        np.testing.assert_allclose(np.asarray(out["rpe"])[0], rpe, rtol=1e-13)
        np.testing.assert_allclose(np.asarray(out["mu"])[0], mu, rtol=1e-13)
        np.testing.assert_allclose(np.asarray(out["accum_reward"])[0], acc, rtol=1e-13)
        assert float(out["n_ep_steps"][0, 0]) == k
    # Online: evolve leaves the prediction alone.
    np.testing.assert_allclose(np.asarray(c.evolve()["mu"])[0], mu, rtol=1e-13)


def test_reward_error_cell_offline_predictor_updates_on_evolve(x64):
    # ngc-learn's code runs this update only when the online predictor is on (docs: off).
    L = 4
    c = cell("RewardErrorCell", n_units=2, alpha=0.3, ema_window_len=L,
             use_online_predictor=False)
    for r in REWARDS:
        out = c.advance(reward=r[None])
        np.testing.assert_array_equal(np.asarray(out["mu"]), 0.0)   # no online update
        np.testing.assert_allclose(np.asarray(out["rpe"])[0], r)
    mean = REWARDS.sum(0) / 4
    mu = (1 - 1 / L) * 0 + (1 / L) * mean
    np.testing.assert_allclose(np.asarray(c.evolve()["mu"])[0], mu, rtol=1e-13)
    mu = (1 - 1 / L) * mu + (1 / L) * mean
    np.testing.assert_allclose(np.asarray(c.evolve()["mu"])[0], mu, rtol=1e-13)
    out = c.advance(reward=[[1.0, 1.0]])
    np.testing.assert_allclose(np.asarray(out["rpe"])[0], 1.0 - mu, rtol=1e-13)


def test_reward_error_cell_evolve_before_any_step_is_finite(x64):
    c = cell("RewardErrorCell", n_units=2, alpha=0.1, use_online_predictor=False)
    np.testing.assert_array_equal(np.asarray(c.evolve()["mu"]), 0.0)


def test_reward_error_cell_reset_forgets(x64):
    c = cell("RewardErrorCell", n_units=2, alpha=0.5)
    c.advance(reward=[[1.0, 2.0]])
    c.reset()
    for name in ("mu", "rpe", "accum_reward", "n_ep_steps"):
        np.testing.assert_array_equal(np.asarray(c[name]), 0.0)
