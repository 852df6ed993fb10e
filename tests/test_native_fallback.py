"""The native kernels' named STDP coefficients, and a library that cannot be built said once
on stderr (the program then runs the slower XLA path)."""

import functools

import numpy as np
import pytest

from ngcspec import native
from ngcspec.components.stdp import EventSTDPSynapse, ExpSTDPSynapse, TraceSTDPSynapse
from ngcspec.lazy import jnp
from ngcspec.registry import StepContext


def test_a_library_that_cannot_be_built_is_said_once_on_stderr(monkeypatch, capsys):
    def no_compiler():
        raise native.NativeUnavailable("no C++ compiler found (set CXX)")

    monkeypatch.setenv(native.ENV, "on")
    monkeypatch.setattr(native, "_load", no_compiler)
    # a fresh per-process cache, so the real (cached) library is untouched after the test
    monkeypatch.setattr(native, "_library", functools.cache(native._library.__wrapped__))
    assert not native.available() and not native.available()
    assert native.status().startswith("unavailable: no C++ compiler found")
    err = capsys.readouterr().err
    assert err.count("native CPU kernels are unavailable") == 1
    assert "no C++ compiler found (set CXX)" in err and "XLA path" in err
    assert f"{native.ENV}=off" in err


def test_kernels_turned_off_on_purpose_say_nothing(monkeypatch, capsys):
    monkeypatch.setenv(native.ENV, "off")
    monkeypatch.setattr(native, "_library", functools.cache(native._library.__wrapped__))
    assert not native.available()
    assert capsys.readouterr().err == ""
    assert native._library.cache_info().currsize == 0      # never even tried


def test_coefficients_are_named_and_ordered_as_the_kernels_read_them():
    got = native.stdp_coefficients("event_stdp", w_bound=5.0, lmbda=4.0, eta=3.0,
                                   A_minus=2.0, A_plus=1.0)
    np.testing.assert_array_equal(got, [1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(TypeError, match="missing lmbda; unknown lambda"):
        native.stdp_coefficients("event_stdp", A_plus=1, A_minus=2, eta=3, w_bound=5,
                                 **{"lambda": 4})
    with pytest.raises(ValueError, match="takes the 5 coefficients"):
        native.stdp("event_stdp", *[jnp.zeros((1, 2, 2))] * 6, jnp.zeros(4))


def _ctx():
    return StepContext(jnp.asarray(1.0), jnp.asarray(0.0), None, 1)


# The order each kernel reads, from native_kernels.cc's comments above each rule:
#   trace_stdp: A_plus, max(A_minus, 0), eta, mu, x_tar, w_bound, tau_w, power_law 0/1
#   exp_stdp:   A_plus, max(A_minus, 0), eta, beta, x_tar, w_bound, tau_w
#   event_stdp: A_plus, A_minus, eta, lmbda, w_bound
@pytest.mark.parametrize("kind, params, expected", [
    (TraceSTDPSynapse, dict(A_plus=0.1, A_minus=-0.2, eta=0.3, mu=0.4, pretrace_target=0.5,
                            w_bound=0.6, tau_w=0.7), [0.1, 0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0]),
    (ExpSTDPSynapse, dict(A_plus=0.1, A_minus=0.2, eta=0.3, exp_beta=0.4, pretrace_target=0.5,
                          w_bound=0.6, tau_w=0.7), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
    (EventSTDPSynapse, dict(A_plus=0.1, A_minus=0.2, eta=0.3, lmbda=0.4, w_bound=0.6),
     [0.1, 0.2, 0.3, 0.4, 0.6]),
])
def test_each_synapse_names_its_kernels_coefficients(kind, params, expected):
    p = kind.Params(shape=(2, 3), **params)
    name, coef, _ = kind.native_rule(p, _ctx())
    got = native.stdp_coefficients(name, **coef)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
