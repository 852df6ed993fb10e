"""DenseSynapse, StaticSynapse and HebbianSynapse against numpy references written here.

Each test drives one component eagerly with ``Single``; expected values come from the numpy
re-implementation of reference section 3.2 below, from closed forms or from hand arithmetic.
"""

import numpy as np
import pytest
from pydantic import ValidationError

from ngcspec.components.synapses import DenseParams, HebbianParams, HebbianSynapse
from ngcspec.lazy import jax, jnp
from ngcspec.params import ParamView, numeric_leaves
from ngcspec.registry import StepContext, get_kind
from ngcspec.single import Single
from ngcspec.state import numeric_params

TOL = dict(rtol=2e-5, atol=1e-6)


def arr(x):
    return np.asarray(x, np.float64)


# --- numpy reference of the Hebbian update (reference section 3.2) ---------------------------

def ref_prior(w, name, lmbda, l1_ratio=0.5):
    if name in ("l2", "ridge", "gaussian"):
        return -lmbda * w
    if name in ("l1", "lasso", "laplacian"):
        return -lmbda * np.sign(w)
    if name in ("l1l2", "elastic_net"):
        return -lmbda * (l1_ratio * np.sign(w) + (1 - l1_ratio) / 2 * w)
    return np.zeros_like(w)


class RefHebbian:
    """Plain numpy HebbianSynapse: W, b, optimizer state, one evolve per call."""

    def __init__(self, w, b, mask=None, *, eta, w_bound=1.0, is_nonnegative=False,
                 prior=("none", 0.0, 0.5), sign_value=1.0, optim="sgd", pre_wght=1.0,
                 post_wght=1.0, learn_bias=False):
        self.w, self.b = arr(w).copy(), arr(b).copy()
        self.mask = np.ones_like(self.w) if mask is None else arr(mask)
        self.eta, self.w_bound, self.nonneg = eta, w_bound, is_nonnegative
        self.prior, self.sign, self.optim = prior, sign_value, optim
        self.pre_wght, self.post_wght, self.learn_bias = pre_wght, post_wght, learn_bias
        self.t = 0
        self.m = [np.zeros_like(self.w), np.zeros_like(self.b)]
        self.v = [np.zeros_like(self.w), np.zeros_like(self.b)]

    def evolve(self, pre, post):
        pre, post = arr(pre) * self.pre_wght, arr(post) * self.post_wght
        h = pre.T @ post
        db = post.sum(axis=0)
        if self.w_bound > 0:
            h = h * (self.w_bound - np.abs(self.w))
        dw = (h + ref_prior(self.w, *self.prior)) * self.sign
        dbias = db * self.sign
        self.t += 1
        grads = [dw, dbias]
        params = [self.w, self.b]
        for i in range(2 if self.learn_bias else 1):
            if self.optim == "sgd":
                params[i] = params[i] - self.eta * grads[i]
            else:
                self.m[i] = 0.9 * self.m[i] + 0.1 * grads[i]
                self.v[i] = 0.999 * self.v[i] + 0.001 * grads[i] ** 2
                m_hat = self.m[i] / (1 - 0.9 ** self.t)
                v_hat = self.v[i] / (1 - 0.999 ** self.t)
                params[i] = params[i] - self.eta * m_hat / (np.sqrt(v_hat) + 1e-8)
        w, self.b = params
        if self.w_bound > 0:
            w = np.clip(w, 0.0 if self.nonneg else -self.w_bound, self.w_bound)
        self.w = w * self.mask
        return dw, dbias


def hebbian(shape=(3, 2), batch_size=2, seed=0, **params):
    params.setdefault("weight_init", {"dist": "gaussian", "std": 0.5})
    return Single("HebbianSynapse", shape=list(shape), batch_size=batch_size, seed=seed,
                  **params)


def reference_for(syn, **kw):
    return RefHebbian(syn["weights"], syn["biases"], syn["mask"], **kw)


def factors(rng, batch, shape):
    return rng.normal(size=(batch, shape[0])), rng.normal(size=(batch, shape[1]))


def run_and_compare(syn, ref, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        pre, post = factors(rng, syn.batch_size, syn.model.shape)
        dw, db = ref.evolve(pre, post)
        syn.evolve(pre=pre, post=post)
        np.testing.assert_allclose(syn["dWeights"], dw, **TOL)
        np.testing.assert_allclose(syn["dBiases"], db, **TOL)
        np.testing.assert_allclose(syn["weights"], ref.w, **TOL)
        np.testing.assert_allclose(syn["biases"], ref.b, **TOL)


# --- DenseSynapse / StaticSynapse ------------------------------------------------------------

def test_dense_forward_with_bias_and_resist_scale():
    syn = Single("DenseSynapse", shape=[4, 3], batch_size=5, resist_scale=2.5,
                 bias_init={"dist": "constant", "value": 0.3})
    x = np.random.default_rng(0).normal(size=(5, 4))
    syn.advance(inputs=x)
    expected = x @ arr(syn["weights"]) * 2.5 + 0.3
    np.testing.assert_allclose(syn["outputs"], expected, **TOL)
    assert syn["outputs"].shape == (5, 3) and syn["biases"].shape == (3,)


def test_dense_hand_computed_numbers():
    syn = Single("DenseSynapse", shape=[2, 2], batch_size=1, resist_scale=0.5,
                 weight_init={"dist": "diag_offdiag", "on_diag": 2.0, "off_diag": 1.0},
                 bias_init={"dist": "constant", "value": -1.0})
    syn.advance(inputs=[[1.0, 3.0]])
    # [1, 3] @ [[2, 1], [1, 2]] = [5, 7]; * 0.5 = [2.5, 3.5]; - 1 = [1.5, 2.5]
    np.testing.assert_allclose(syn["outputs"], [[1.5, 2.5]])


def test_g_conduct_factor_is_an_alias_of_resist_scale():
    assert DenseParams(shape=[2, 2], g_conduct_factor=3.0).resist_scale == 3.0
    a = Single("DenseSynapse", shape=[2, 3], g_conduct_factor=3.0)
    b = Single("DenseSynapse", shape=[2, 3], resist_scale=3.0)
    a.advance(inputs=[[1.0, -2.0]])
    b.advance(inputs=[[1.0, -2.0]])
    np.testing.assert_array_equal(a["outputs"], b["outputs"])
    with pytest.raises(ValidationError):
        DenseParams(shape=[2, 2], g_conduct_factor=3.0, resist_scale=2.0)


def test_default_weights_are_uniform_0025_08_and_no_bias():
    syn = Single("DenseSynapse", shape=[30, 40])
    w = arr(syn["weights"])
    assert w.min() >= 0.025 and w.max() < 0.8 and abs(w.mean() - 0.4125) < 0.02
    np.testing.assert_array_equal(syn["biases"], np.zeros(40))
    np.testing.assert_array_equal(syn["mask"], np.ones((30, 40)))


def test_parameter_validation():
    with pytest.raises(ValidationError):
        DenseParams(shape=[2, 2], batch_size=4)          # the batch is free at run time
    with pytest.raises(ValidationError):
        DenseParams(shape=[0, 2])
    with pytest.raises(ValidationError):
        DenseParams(shape=[2, 2, 2])
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValidationError):
            DenseParams(shape=[2, 2], p_conn=bad)
    with pytest.raises(ValidationError):
        HebbianParams(shape=[2, 2], optim_type="nag")
    with pytest.raises(ValidationError):
        HebbianParams(shape=[2, 2], prior=["cauchy", 0.1])


@pytest.mark.slow
def test_dense_p_conn_is_a_persistent_mask():
    """Upstream bug: p_conn landed in p_release_mean (stochastic release); here it is a mask."""
    syn = Single("DenseSynapse", shape=[40, 50], p_conn=0.3,
                 weight_init={"dist": "constant", "value": 1.0}, seed=1)
    mask = arr(syn["mask"])
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert abs(mask.mean() - 0.3) < 0.03                  # se = 0.0065
    np.testing.assert_array_equal(syn["weights"], mask)   # W = 1 * mask at init
    x = np.random.default_rng(0).normal(size=(1, 40))
    first = arr(syn.advance(inputs=x)["outputs"])
    np.testing.assert_allclose(first, x @ mask, **TOL)
    # Deterministic transmission: no stochastic release from one step to the next.
    np.testing.assert_array_equal(syn.advance(inputs=x)["outputs"], first)
    # Something outside the synapse (a tie, a loaded file) writing into pruned entries does
    # not reconnect them.
    syn.state["weights"] = jnp.ones((40, 50))
    np.testing.assert_allclose(syn.advance(inputs=x)["outputs"], x @ mask, **TOL)
    syn.reset()
    np.testing.assert_array_equal(syn["mask"], mask)      # survives reset
    np.testing.assert_array_equal(syn["outputs"], np.zeros((1, 50)))


def test_static_synapse_is_dense_without_plasticity():
    kw = dict(shape=[3, 2], seed=5, bias_init={"dist": "gaussian"})
    d, s = Single("DenseSynapse", **kw), Single("StaticSynapse", **kw)
    np.testing.assert_array_equal(d["weights"], s["weights"])
    x = [[0.5, -1.0, 2.0]]
    np.testing.assert_array_equal(d.advance(inputs=x)["outputs"], s.advance(inputs=x)["outputs"])
    assert not get_kind("StaticSynapse").plastic and get_kind("HebbianSynapse").plastic
    with pytest.raises(TypeError):
        s.evolve()


def test_bias_init_must_fit_a_vector():
    kind = get_kind("DenseSynapse")
    p = DenseParams(shape=[3, 2], bias_init={"dist": "gaussian", "hollow": True})
    assert [name for name, _ in kind.check(p)] == ["bias_init"]
    p = DenseParams(shape=[3, 2], weight_init={"dist": "gaussian", "col_mask": [2]})
    assert [name for name, _ in kind.check(p)] == ["weight_init"]
    assert kind.check(DenseParams(shape=[3, 2], weight_init={"dist": "gaussian",
                                                             "col_mask": [1]})) == []


def test_compartment_shapes_and_roles():
    kind = get_kind("HebbianSynapse")
    shapes = kind.shapes(HebbianParams(shape=[3, 2]))
    assert shapes["weights"] == (3, 2) and shapes["mask"] == (3, 2)
    assert shapes["pre"] == (3,) and shapes["post"] == (2,) and shapes["biases"] == (2,)
    assert shapes["dWeights"] == (3, 2) and shapes["dBiases"] == (2,)
    persistent = {n for n, c in kind.compartments.items() if c.persistent}
    assert persistent == {"weights", "biases", "mask", "opt_count", "opt_mW", "opt_vW",
                          "opt_mb", "opt_vb"}
    syn = hebbian(batch_size=4)
    assert syn["pre"].shape == (4, 3) and syn["post"].shape == (4, 2)
    for kind_name in ("DenseSynapse", "StaticSynapse", "HebbianSynapse"):
        k = get_kind(kind_name)
        assert k.family == "synapses" and "Deviations from ngc-learn" in k.describe()
        for name, field in k.Params.model_fields.items():
            assert field.description, f"{kind_name}.{name} has no description"


# --- HebbianSynapse: the update of reference section 3.2 ------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("prior", [
    ("none", 0.0), ("constant", 0.3),
    ("l1", 0.2), ("lasso", 0.2), ("laplacian", 0.2),
    ("l2", 0.2), ("ridge", 0.2), ("gaussian", 0.2),
    ("l1l2", 0.2, 0.3), ("elastic_net", 0.2, 0.8),
])
@pytest.mark.parametrize("sign_value", [1.0, -1.0])
def test_hebbian_each_prior_and_sign(prior, sign_value):
    syn = hebbian(eta=0.05, prior=list(prior), sign_value=sign_value)
    full = prior + (0.5,) if len(prior) == 2 else prior
    ref = reference_for(syn, eta=0.05, prior=full, sign_value=sign_value)
    run_and_compare(syn, ref)


def test_prior_hand_computed_1x1():
    # W = 0.5, pre = 2, post = 1, eta = 0.1, w_bound = 1, sign +1:
    # H = 2 * (1 - 0.5) = 1. none: W = 0.5 - 0.1*1 = 0.4.
    # l2 0.2: R = -0.1, W = 0.5 - 0.1*0.9 = 0.41. l1 0.2: R = -0.2, W = 0.42.
    # elastic 0.2 (ratio 0.5): R = -0.2*(0.5 + 0.25*0.5) = -0.125, W = 0.4125.
    for prior, expected in [(None, 0.4), (["l2", 0.2], 0.41), (["l1", 0.2], 0.42),
                            ({"name": "elastic_net", "lmbda": 0.2, "l1_ratio": 0.5}, 0.4125)]:
        syn = Single("HebbianSynapse", shape=[1, 1], eta=0.1, prior=prior,
                     weight_init={"dist": "constant", "value": 0.5})
        syn.evolve(pre=[[2.0]], post=[[1.0]])
        np.testing.assert_allclose(syn["weights"], [[expected]], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("w_bound", [0.0, 0.7, 1.0])
@pytest.mark.parametrize("is_nonnegative", [False, True])
def test_hebbian_soft_bound_and_clipping(w_bound, is_nonnegative):
    # A large eta so that clipping to the bound actually happens.
    syn = hebbian(eta=2.0, w_bound=w_bound, is_nonnegative=is_nonnegative, sign_value=-1.0)
    ref = reference_for(syn, eta=2.0, w_bound=w_bound, is_nonnegative=is_nonnegative,
                        sign_value=-1.0)
    run_and_compare(syn, ref)
    w = arr(syn["weights"])
    if w_bound > 0:
        assert np.abs(w).max() <= w_bound + 1e-7
        assert np.isclose(np.abs(w).max(), w_bound)      # the clip was reached
        if is_nonnegative:
            assert w.min() >= 0.0 and (w == 0.0).any()
        else:
            assert w.min() < 0.0
    else:
        assert np.abs(w).max() > 1.0                     # no bound, is_nonnegative inert
        assert w.min() < 0.0


def test_soft_bound_hand_computed():
    # W = 0.25, pre = post = 1, eta = 1, sign -1: on (w_bound 1): W = 0.25 + 0.75 = 1.0;
    # off (w_bound 0): W = 0.25 + 1 = 1.25.
    for w_bound, expected in [(1.0, 1.0), (0.0, 1.25)]:
        syn = Single("HebbianSynapse", shape=[1, 1], eta=1.0, sign_value=-1.0, w_bound=w_bound,
                     weight_init={"dist": "constant", "value": 0.25})
        syn.evolve(pre=[[1.0]], post=[[1.0]])
        np.testing.assert_allclose(syn["weights"], [[expected]], rtol=1e-6)


def test_soft_bound_is_on_by_default():
    p = HebbianParams(shape=[2, 2])
    assert p.w_bound == 1.0 and p.sign_value == 1.0 and p.eta == 0.0
    assert p.optim_type == "sgd" and p.prior.family == "none"
    syn = Single("HebbianSynapse", shape=[1, 1], eta=1.0, sign_value=-1.0,
                 weight_init={"dist": "constant", "value": 1.0})
    syn.evolve(pre=[[1.0]], post=[[1.0]])                # (w_bound - |W|) = 0: no change
    np.testing.assert_allclose(syn["weights"], [[1.0]])


def test_pre_and_post_weights():
    syn = hebbian(eta=0.1, pre_wght=0.5, post_wght=-2.0, sign_value=-1.0)
    ref = reference_for(syn, eta=0.1, pre_wght=0.5, post_wght=-2.0, sign_value=-1.0)
    run_and_compare(syn, ref)


def test_batch_updates_are_summed_not_averaged():
    syn = Single("HebbianSynapse", shape=[1, 1], batch_size=4, eta=0.1, w_bound=0.0,
                 sign_value=-1.0, weight_init={"dist": "constant", "value": 0.0},
                 bias_init={"dist": "constant", "value": 0.0})
    syn.evolve(pre=[[1.0], [2.0], [3.0], [4.0]], post=[[1.0], [1.0], [1.0], [1.0]])
    np.testing.assert_allclose(syn["weights"], [[1.0]], rtol=1e-6)   # 0.1 * (1+2+3+4)
    np.testing.assert_allclose(syn["biases"], [0.4], rtol=1e-6)      # 0.1 * 4


def test_bias_learning_with_sgd_and_adam():
    for optim in ("sgd", "adam"):
        syn = hebbian(batch_size=3, eta=0.05, optim_type=optim, sign_value=-1.0,
                      bias_init={"dist": "gaussian", "std": 0.1})
        ref = reference_for(syn, eta=0.05, optim=optim, sign_value=-1.0, learn_bias=True)
        run_and_compare(syn, ref, steps=4)


def test_no_bias_init_means_biases_stay_zero():
    syn = hebbian(eta=0.5, sign_value=-1.0, optim_type="adam")
    syn.evolve(pre=np.ones((2, 3)), post=np.ones((2, 2)))
    np.testing.assert_array_equal(syn["biases"], np.zeros(2))
    np.testing.assert_allclose(syn["dBiases"], [-2.0, -2.0])         # computed, not applied
    syn.advance(inputs=np.ones((2, 3)))
    np.testing.assert_allclose(syn["outputs"], np.ones((2, 3)) @ arr(syn["weights"]), **TOL)


def test_adam_state_carries_across_evolves_and_reset():
    syn = hebbian(eta=0.01, optim_type="adam", w_bound=0.0, prior=["l2", 0.1],
                  sign_value=-1.0, bias_init={"dist": "constant", "value": 0.0})
    ref = reference_for(syn, eta=0.01, optim="adam", w_bound=0.0, prior=("l2", 0.1, 0.5),
                        sign_value=-1.0, learn_bias=True)
    run_and_compare(syn, ref, steps=3, seed=1)
    assert int(syn["opt_count"]) == 3
    m_before = arr(syn["opt_mW"])
    syn.reset()
    # reset clears the transient compartments and keeps weights and optimizer state
    assert int(syn["opt_count"]) == 3
    np.testing.assert_array_equal(syn["opt_mW"], m_before)
    np.testing.assert_allclose(syn["weights"], ref.w, **TOL)
    for name in ("pre", "post", "dWeights", "dBiases", "inputs", "outputs"):
        assert not np.any(arr(syn[name])), name
    # the recursion continues with t = 4, 5 (a fresh state would take full-size steps again)
    run_and_compare(syn, ref, steps=2, seed=2)
    assert int(syn["opt_count"]) == 5


def test_sgd_counts_steps_and_leaves_moments_alone():
    syn = hebbian(eta=0.1)
    syn.evolve(pre=np.ones((2, 3)), post=np.ones((2, 2)))
    syn.evolve(pre=np.ones((2, 3)), post=np.ones((2, 2)))
    assert int(syn["opt_count"]) == 2
    assert not np.any(arr(syn["opt_mW"])) and not np.any(arr(syn["opt_vW"]))


@pytest.mark.slow
def test_hebbian_p_conn_mask_survives_evolve_and_reset():
    """Upstream: HebbianSynapse applied the p_conn mask only at init, so learning regrew
    pruned weights. Here they stay zero."""
    syn = Single("HebbianSynapse", shape=[20, 20], p_conn=0.5, eta=0.5, sign_value=-1.0,
                 w_bound=0.0, optim_type="adam", seed=3)
    mask = arr(syn["mask"])
    assert 0 < mask.sum() < mask.size
    for _ in range(3):
        syn.evolve(pre=np.ones((1, 20)), post=np.ones((1, 20)))   # pushes every entry up
    w = arr(syn["weights"])
    assert np.all(w[mask == 0] == 0) and np.all(w[mask == 1] > 0.8)
    syn.reset()
    np.testing.assert_array_equal(syn["mask"], mask)
    np.testing.assert_array_equal(syn["weights"], w)


def test_w_decay_is_the_deprecated_l2_prior():
    p = HebbianParams(shape=[3, 2], w_decay=0.3)
    assert p.prior.family == "l2" and p.prior.lmbda == 0.3
    a = hebbian(eta=0.1, w_decay=0.3, sign_value=-1.0)
    b = hebbian(eta=0.1, prior=["l2", 0.3], sign_value=-1.0)
    pre, post = np.ones((2, 3)), np.full((2, 2), 0.5)
    np.testing.assert_array_equal(a.evolve(pre=pre, post=post)["weights"],
                                  b.evolve(pre=pre, post=post)["weights"])
    with pytest.raises(ValidationError):
        HebbianParams(shape=[3, 2], w_decay=0.3, prior=["l1", 0.1])


def test_prior_written_in_each_form():
    import yaml

    forms = {
        "prior: [l1, 0.01]": ("l1", 0.01, 0.5),
        "prior: [elastic_net, 0.01, 0.25]": ("elastic_net", 0.01, 0.25),
        "prior: [l1l2, [0.02, 0.75]]": ("elastic_net", 0.02, 0.75),
        "prior: {name: elastic_net, lmbda: 0.01, l1_ratio: 0.5}": ("elastic_net", 0.01, 0.5),
        "prior: ridge": ("l2", 0.0, 0.5),
        "prior: null": ("none", 0.0, 0.5),
    }
    for text, (family, lmbda, ratio) in forms.items():
        p = HebbianParams(shape=[2, 2], **yaml.safe_load(text))
        assert (p.prior.family, p.prior.lmbda, p.prior.l1_ratio) == (family, lmbda, ratio), text
    for bad in ("prior: [l1, 0.1, 0.5, 3]", "prior: [l1, -0.1]", "prior: {name: l1, lam: 1}",
                "prior: [elastic_net, 0.1, 1.5]"):
        with pytest.raises(ValidationError):
            HebbianParams(shape=[2, 2], **yaml.safe_load(bad))


# --- regression usage (seed 004) and Lesson 3 ------------------------------------------------

def test_ridge_regression_converges_to_the_closed_form():
    # The Iterative_Ridge circuit: pre = X, post = e = y - XW, sign -1, w_bound 0, sgd.
    # Fixed point of W += eta (X^T e - lmbda W): (X^T X + lmbda I) W = X^T y.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3))
    y = x @ np.array([[1.5], [-0.5], [0.25]]) + 0.1 * rng.normal(size=(16, 1))
    lmbda = 2.0
    syn = Single("HebbianSynapse", shape=[3, 1], batch_size=16, eta=0.02, sign_value=-1.0,
                 w_bound=0.0, prior=["ridge", lmbda],
                 weight_init={"dist": "constant", "value": 0.05})
    kind, p = syn.kind, syn.p
    ctx = StepContext(dt=1.0, t=0.0, key=None, batch_size=16)

    @jax.jit
    def fit(state):
        def body(_, s):
            s = {**s, **kind.advance(p, s, ctx)}
            s = {**s, "pre": s["inputs"], "post": jnp.asarray(y, "float32") - s["outputs"]}
            return {**s, **kind.evolve(p, s, ctx)}
        return jax.lax.fori_loop(0, 400, body, state)

    syn.set(inputs=x)
    state = fit(syn.state)
    closed = np.linalg.solve(x.T @ x + lmbda * np.eye(3), x.T @ y)
    np.testing.assert_allclose(state["weights"], closed, rtol=1e-4, atol=1e-5)


def test_lesson3_evolving_synapse_sequence():
    """Docs lesson 3: a -> Wab -> b, Hebbian with eta 1, sign -1 and w_bound 0.

    Each step b = W a, then W <- W - eta * sign * (a * b) = W + a^2 W. For spikes 1,1,0,0,1
    from W = 1: 2, 4, 4, 4, 8. (The default w_bound = 1 would freeze W at 1, and sign +1
    would drive it to 0.)"""
    syn = Single("HebbianSynapse", shape=[1, 1], eta=1.0, sign_value=-1.0, w_bound=0.0,
                 weight_init={"dist": "constant", "value": 1.0})
    seen = [float(syn["weights"][0, 0])]
    for spike in (1.0, 1.0, 0.0, 0.0, 1.0):
        b = syn.advance(inputs=[[spike]])["outputs"]
        syn.evolve(pre=[[spike]], post=b)
        seen.append(float(syn["weights"][0, 0]))
    assert seen == [1.0, 2.0, 4.0, 4.0, 4.0, 8.0]


# --- numbers are traced --------------------------------------------------------------------

def test_numeric_parameters_are_traced_and_init_values_are_not():
    leaves = numeric_leaves(HebbianParams(shape=[2, 2], prior=["l1", 0.1],
                                          weight_init={"dist": "gaussian", "std": 0.05}))
    assert set(leaves) == {"resist_scale", "eta", "w_bound", "sign_value", "pre_wght",
                           "post_wght", "prior"}
    assert set(leaves["prior"]) == {"lmbda", "l1_ratio"}


def test_evolve_is_one_program_for_any_eta_w_bound_sign_and_lambda():
    """eta, w_bound, sign_value and lmbda are traced: one trace serves w_bound 0 and 1 alike,
    and each setting still matches the reference."""
    model = HebbianParams(shape=[3, 2], prior=["l1", 0.1])
    traces = []

    def step(numeric, s):
        traces.append(1)
        return HebbianSynapse.evolve(ParamView(model, numeric), s, None)

    step = jax.jit(step)
    base = hebbian(prior=["l1", 0.1])
    rng = np.random.default_rng(4)
    pre, post = factors(rng, 2, (3, 2))
    base.set(pre=pre, post=post)
    for eta, w_bound, sign, lmbda in [(0.1, 1.0, 1.0, 0.1), (0.3, 0.0, -1.0, 0.5),
                                      (0.2, 0.5, -1.0, 0.0)]:
        numeric = numeric_params(model, "float32")
        numeric.update(eta=jnp.float32(eta), w_bound=jnp.float32(w_bound),
                       sign_value=jnp.float32(sign))
        numeric["prior"] = {**numeric["prior"], "lmbda": jnp.float32(lmbda)}
        out = step(numeric, base.state)
        ref = reference_for(base, eta=eta, w_bound=w_bound, sign_value=sign,
                            prior=("l1", lmbda, 0.5))
        ref.evolve(pre, post)
        np.testing.assert_allclose(out["weights"], ref.w, **TOL)
    assert len(traces) == 1


# --- contract with the rest of ngcspec ------------------------------------------------------

@pytest.mark.slow
def test_steps_never_write_their_inputs():
    """Upstream bug: compiled .set()/reset on wired compartments wrote into the sources.
    Here advance and evolve return only the synapse's own outputs and state."""
    syn = hebbian(bias_init={"dist": "constant", "value": 0.0}, optim_type="adam", eta=0.1)
    kind = syn.kind
    inputs = {n for n, c in kind.compartments.items() if c.role == "input"}
    assert inputs == {"inputs", "pre", "post"}
    changed = set(kind.advance(syn.p, syn.state, syn._ctx()))
    changed |= set(kind.evolve(syn.p, syn.state, syn._ctx()))
    assert changed and not changed & inputs
    assert kind.reset(syn.p, syn.state, syn._ctx()) == {}


def test_json_schema_accepts_the_short_forms_validation_accepts():
    jsonschema = pytest.importorskip("jsonschema")
    schema = HebbianParams.model_json_schema()
    good = [{"shape": [3, 2], "prior": ["l1", 0.01]},
            {"shape": [3, 2], "prior": ["elastic_net", [0.01, 0.5]]},
            {"shape": [3, 2], "prior": {"name": "ridge", "lmbda": 0.1}},
            {"shape": [3, 2], "prior": None, "g_conduct_factor": 2.0},
            {"shape": [3, 2], "weight_init": {"dist": "gaussian", "std": 0.05, "col_mask": 1}}]
    for entry in good:
        jsonschema.validate(entry, schema)
        HebbianParams(**entry)                              # and validation agrees
    for entry in [{"shape": [3, 2], "prior": ["cauchy", 0.1]},
                  {"shape": [3, 2], "weight_init": {"dist": "gaussian", "sd": 1.0}},
                  {"shape": [3, 2], "batch_size": 4}]:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(entry, schema)
