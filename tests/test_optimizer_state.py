"""The optimizer state as compartments of a synapse (optimizers.compartments/apply), and the
adam of ngcspec against optax's, an independent implementation."""

import numpy as np
import pytest

from ngcspec.components import optimizers
from ngcspec.components.convolution import HebbianConvSynapse
from ngcspec.components.patched import HebbianPatchedSynapse
from ngcspec.components.synapses import HebbianSynapse
from ngcspec.lazy import jax, jnp


def test_compartment_names_are_those_checkpoints_use():
    # saved runs hold these names: they must not change with the optimizer code
    for kind in (HebbianSynapse, HebbianPatchedSynapse, HebbianConvSynapse):
        names = [c for c in kind.compartments if c.startswith("opt_")]
        assert names == ["opt_count", "opt_mW", "opt_vW", "opt_mb", "opt_vb"], kind.kind
        for c in names:
            spec = kind.compartments[c]
            assert spec.persistent and not spec.batched and spec.role == "state"
        assert kind.compartments["opt_count"].integer
        assert kind.compartments["opt_mW"].shape == kind.compartments["weights"].shape
        assert kind.compartments["opt_vb"].shape == kind.compartments["biases"].shape


def test_initial_state_is_zeros_of_the_parameter_shapes():
    s = optimizers.initial_state({"W": (3, 2), "b": (2,)}, "float32")
    assert sorted(s) == ["opt_count", "opt_mW", "opt_mb", "opt_vW", "opt_vb"]
    assert s["opt_count"].dtype == jnp.int32 and s["opt_count"].shape == ()
    assert s["opt_mW"].shape == (3, 2) and s["opt_vb"].shape == (2,)
    assert all(float(jnp.abs(v).sum()) == 0 for v in s.values())


def test_apply_reads_and_writes_the_compartments_of_each_optimizer():
    rng = np.random.default_rng(0)
    w, u = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    with jax.enable_x64(True):
        s = {**optimizers.initial_state({"W": (3, 2)}, "float64"), "opt_count": jnp.asarray(4)}
        s["opt_mW"], s["opt_vW"] = jnp.asarray(0.1 * u), jnp.asarray(0.2 * u * u)
        new, state = optimizers.apply("sgd", s, {"W": jnp.asarray(w)}, {"W": jnp.asarray(u)}, 0.5)
        assert sorted(state) == ["opt_count"] and int(state["opt_count"]) == 5
        np.testing.assert_allclose(new["W"], w - 0.5 * u)

        new, state = optimizers.apply("adam", s, {"W": jnp.asarray(w)}, {"W": jnp.asarray(u)}, 0.5)
    assert sorted(state) == ["opt_count", "opt_mW", "opt_vW"] and int(state["opt_count"]) == 5
    m = 0.9 * 0.1 * u + 0.1 * u                       # b1 m + (1 - b1) u, written out
    v = 0.999 * 0.2 * u * u + 0.001 * u * u
    np.testing.assert_allclose(state["opt_mW"], m, rtol=1e-12)
    np.testing.assert_allclose(state["opt_vW"], v, rtol=1e-12)
    step = (m / (1 - 0.9 ** 5)) / (np.sqrt(v / (1 - 0.999 ** 5)) + 1e-8)
    np.testing.assert_allclose(new["W"], w - 0.5 * step, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 1e-6)])
def test_adam_reproduces_optax_over_100_steps(dtype, tol):
    import optax  # in the test extra only: ngcspec does not depend on it
    rng = np.random.default_rng(3)
    theta = rng.normal(size=(5, 4))
    grads = [rng.normal(size=(5, 4)) * rng.uniform(0.01, 10) for _ in range(100)]
    eta = 0.01
    with jax.enable_x64(dtype == "float64"):
        ours = (jnp.asarray(theta, dtype),)
        state = optimizers.adam().init(ours)
        ref = jnp.asarray(theta, dtype)
        scale = optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)
        ref_state = scale.init(ref)
        for k, g in enumerate(grads):
            g = jnp.asarray(g, dtype)
            ours, state = optimizers.adam().update(ours, (g,), state, eta)
            step, ref_state = scale.update(g, ref_state, ref)
            ref = ref - eta * step                    # ngcspec subtracts eta * step
            np.testing.assert_allclose(ours[0], ref, rtol=0, atol=tol, err_msg=f"step {k + 1}")
