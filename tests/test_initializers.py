"""Weight initialisers: exact values, distribution statistics, post-processing, validation.

Statistics use fixed seeds and generous tolerances (a few standard errors); exact cases are
compared against numpy constructions written here, never against the code's own output.
"""

import math

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError
from scipy import stats

from ngcspec.components.initializers import WeightInit, draw, parse, problems
from ngcspec.lazy import random
from ngcspec.params import numeric_leaves


def key(seed=0):
    return random.PRNGKey(seed)


def sample(spec, shape, seed=0, dtype="float32"):
    return np.asarray(draw(parse(spec), shape, key(seed), dtype))


# --- exact distributions ---------------------------------------------------------------------

def test_constant_is_exact():
    w = sample({"dist": "constant", "value": -0.25}, (3, 4))
    assert w.shape == (3, 4) and w.dtype == np.float32
    np.testing.assert_array_equal(w, np.full((3, 4), -0.25, np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2)])
def test_diag_offdiag_is_exact(shape):
    w = sample({"dist": "diag_offdiag", "on_diag": 2.0, "off_diag": -0.5}, shape)
    expected = np.full(shape, -0.5, np.float32)
    for i in range(min(shape)):
        expected[i, i] = 2.0
    np.testing.assert_array_equal(w, expected)


def test_constant_requires_value_and_diag_offdiag_requires_both():
    with pytest.raises(ValidationError):
        parse({"dist": "constant"})
    with pytest.raises(ValidationError):
        parse({"dist": "diag_offdiag", "on_diag": 1.0})


# --- random distributions: statistics --------------------------------------------------------

@pytest.mark.slow
def test_uniform_bounds_moments_and_ks():
    low, high = -0.5, 1.5
    w = sample({"dist": "uniform", "low": low, "high": high}, (200, 100)).ravel()
    assert w.min() >= low and w.max() < high
    assert abs(w.mean() - 0.5) < 0.02                      # se = 0.577/sqrt(2e4) = 0.004
    assert abs(w.var() - (high - low) ** 2 / 12) < 0.02
    assert stats.kstest(w, stats.uniform(loc=low, scale=high - low).cdf).pvalue > 1e-3


@pytest.mark.slow
def test_uniform_defaults_are_unit_interval():
    w = sample({"dist": "uniform"}, (100, 100))
    assert w.min() >= 0.0 and w.max() < 1.0 and abs(w.mean() - 0.5) < 0.02


def test_uniform_rejects_high_below_low():
    with pytest.raises(ValidationError):
        parse({"dist": "uniform", "low": 1.0, "high": 0.0})


@pytest.mark.slow
def test_gaussian_moments_and_ks():
    w = sample({"dist": "gaussian", "mean": 1.0, "std": 0.05}, (200, 100)).ravel()
    assert abs(w.mean() - 1.0) < 0.002                     # se = 0.05/141 = 3.5e-4
    assert abs(w.std() - 0.05) < 0.002
    assert stats.kstest(w, stats.norm(loc=1.0, scale=0.05).cdf).pvalue > 1e-3


@pytest.mark.slow
def test_gaussian_defaults_are_standard_normal():
    w = sample({"dist": "gaussian"}, (100, 100))
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1.0) < 0.05
    with pytest.raises(ValidationError):
        parse({"dist": "gaussian", "std": -1.0})


def test_fan_in_gaussian_uses_rows():
    # Non-square on purpose: 1/shape[0] = 1/25, 1/shape[1] = 1/400.
    w = sample({"dist": "fan_in_gaussian"}, (25, 400))
    assert abs(w.mean()) < 0.01
    assert abs(w.std() - math.sqrt(1 / 25)) < 0.005


def test_fan_in_uniform_uses_rows_like_fan_in_gaussian():
    """Upstream bug: ngc-learn's fan_in_uniform takes the fan-in from shape[1]."""
    n_in, n_out = 4, 400
    w = sample({"dist": "fan_in_uniform"}, (n_in, n_out)).ravel()
    bound = math.sqrt(1 / n_in)                            # 0.5; the shape[1] bound is 0.05
    assert np.all(np.abs(w) <= bound)
    assert w.max() > 0.95 * bound and w.min() < -0.95 * bound
    assert stats.kstest(w, stats.uniform(loc=-bound, scale=2 * bound).cdf).pvalue > 1e-3
    # Same fan-in convention as fan_in_gaussian: variance r^2/3 = 1/(3 n_in).
    assert abs(w.var() - 1 / (3 * n_in)) < 0.01


def test_log_gaussian_draws_lognormal():
    """Upstream bug: ngc-learn's log_gaussian raises NameError on the JAX path."""
    w = sample({"dist": "log_gaussian", "sigma": 0.5}, (200, 100)).ravel()
    assert np.all(w > 0)
    logs = np.log(w)
    assert abs(logs.mean()) < 0.01 and abs(logs.std() - 0.5) < 0.01
    assert stats.kstest(w, stats.lognorm(s=0.5).cdf).pvalue > 1e-3


def test_log_gaussian_default_sigma_is_one():
    w = sample({"dist": "log_gaussian"}, (100, 100))
    assert abs(np.log(w).std() - 1.0) < 0.03


@pytest.mark.slow
def test_same_key_same_values_other_key_other_values():
    spec = {"dist": "gaussian"}
    np.testing.assert_array_equal(sample(spec, (5, 5), seed=3), sample(spec, (5, 5), seed=3))
    assert not np.allclose(sample(spec, (5, 5), seed=3), sample(spec, (5, 5), seed=4))


def test_dtype_is_respected():
    assert sample({"dist": "gaussian"}, (3, 3), dtype="float16").dtype == np.float16


# --- post-processing -------------------------------------------------------------------------

RAW = {"dist": "gaussian", "std": 1.0}


def with_options(**opts):
    return {**RAW, **opts}


@pytest.mark.slow
def test_amin_amax_clip_the_raw_draw():
    raw = sample(RAW, (20, 20), seed=1)
    w = sample(with_options(amin=-0.3, amax=0.4), (20, 20), seed=1)
    np.testing.assert_array_equal(w, np.clip(raw, -0.3, 0.4))
    assert (w == -0.3).any() and (w == 0.4).any()          # both clips actually bit
    np.testing.assert_array_equal(sample(with_options(amin=0.0), (20, 20), seed=1),
                                  np.maximum(raw, 0.0))
    np.testing.assert_array_equal(sample(with_options(amax=0.0), (20, 20), seed=1),
                                  np.minimum(raw, 0.0))


def test_amin_above_amax_is_rejected():
    with pytest.raises(ValidationError):
        parse(with_options(amin=1.0, amax=0.0))


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(5, 5), (4, 6)])
def test_triangles(shape):
    raw = sample(RAW, shape, seed=2)
    np.testing.assert_array_equal(sample(with_options(lower_triangle=True), shape, seed=2),
                                  np.tril(raw))
    np.testing.assert_array_equal(sample(with_options(upper_triangle=True), shape, seed=2),
                                  np.triu(raw))


def test_lower_and_upper_triangle_are_mutually_exclusive():
    with pytest.raises(ValidationError, match="mutually exclusive"):
        parse(with_options(lower_triangle=True, upper_triangle=True))


@pytest.mark.slow
def test_hollow_and_eye():
    raw = sample(RAW, (4, 5), seed=3)
    eye = np.eye(4, 5)
    np.testing.assert_array_equal(sample(with_options(hollow=True), (4, 5), seed=3),
                                  raw * (1 - eye))
    np.testing.assert_array_equal(sample(with_options(eye=True), (4, 5), seed=3), raw * eye)


def test_options_apply_in_reference_order():
    # Clip before hollow: the clipped diagonal is zeroed afterwards (clip last would give 0.5).
    w = sample({"dist": "constant", "value": 0.0, "amin": 0.5, "hollow": True}, (3, 3))
    np.testing.assert_array_equal(w, 0.5 * (1 - np.eye(3)))
    # Triangle before hollow, hollow before eye: nothing survives hollow then eye.
    w = sample({"dist": "constant", "value": 1.0, "lower_triangle": True, "hollow": True},
               (3, 3))
    np.testing.assert_array_equal(w, np.tril(np.ones((3, 3)), k=-1))
    w = sample({"dist": "constant", "value": 1.0, "hollow": True, "eye": True}, (3, 3))
    np.testing.assert_array_equal(w, np.zeros((3, 3)))


@pytest.mark.slow
def test_col_mask_list_keeps_those_columns():
    raw = sample(RAW, (3, 5), seed=4)
    w = sample(with_options(col_mask=[0, 3]), (3, 5), seed=4)
    expected = np.zeros_like(raw)
    expected[:, [0, 3]] = raw[:, [0, 3]]
    np.testing.assert_array_equal(w, expected)


@pytest.mark.slow
def test_row_mask_list_keeps_those_rows():
    raw = sample(RAW, (4, 3), seed=5)
    w = sample(with_options(row_mask=[1]), (4, 3), seed=5)
    expected = np.zeros_like(raw)
    expected[1] = raw[1]
    np.testing.assert_array_equal(w, expected)


@pytest.mark.slow
def test_col_mask_int_keeps_n_random_columns():
    chosen = set()
    for seed in range(6):
        raw = sample(RAW, (4, 10), seed=seed)
        w = sample(with_options(col_mask=3), (4, 10), seed=seed)
        kept = np.flatnonzero(np.any(w != 0, axis=0))
        assert len(kept) == 3
        np.testing.assert_array_equal(w[:, kept], raw[:, kept])   # kept columns untouched
        chosen.add(tuple(kept))
    assert len(chosen) > 1                                 # the columns depend on the key


def test_row_mask_int_keeps_n_random_rows_and_works_on_vectors():
    w = sample({"dist": "constant", "value": 1.0, "row_mask": 2}, (6, 3))
    assert sorted(w.sum(axis=1)) == [0, 0, 0, 0, 3, 3]
    b = sample({"dist": "constant", "value": 1.0, "row_mask": [0, 2]}, (4,))
    np.testing.assert_array_equal(b, [1, 0, 1, 0])


def test_masks_that_do_not_fit_the_shape_are_reported():
    assert problems(parse(with_options(col_mask=6)), (3, 5))
    assert problems(parse(with_options(col_mask=[5])), (3, 5))
    assert problems(parse(with_options(row_mask=[3])), (3, 5))
    assert problems(parse(with_options(hollow=True)), (5,))
    assert problems(parse({"dist": "diag_offdiag", "on_diag": 1, "off_diag": 0}), (5,))
    assert problems(parse(with_options(col_mask=5, row_mask=[2])), (3, 5)) == []
    with pytest.raises(ValueError, match="col_mask"):
        draw(parse(with_options(col_mask=6)), (3, 5), key())


def test_negative_or_boolean_mask_is_rejected():
    with pytest.raises(ValidationError):
        parse(with_options(col_mask=-1))
    with pytest.raises(ValidationError):
        parse(with_options(row_mask=True))


# --- the model as a parameter ----------------------------------------------------------------

def test_unknown_dist_and_unknown_field_are_errors():
    with pytest.raises(ValidationError):
        parse({"dist": "gausian"})
    with pytest.raises(ValidationError):
        parse({"dist": "gaussian", "sd": 1.0})
    with pytest.raises(ValidationError):
        parse({"std": 1.0})


def test_yaml_form_and_floats_stay_out_of_the_traced_tree():
    import yaml

    class P(BaseModel):
        weight_init: WeightInit

    p = P(**yaml.safe_load("weight_init: {dist: gaussian, std: 0.05, amax: 0.1}"))
    assert p.weight_init.std == 0.05 and p.weight_init.amax == 0.1
    # Draws happen once at init, so none of these floats may become traced parameters.
    assert numeric_leaves(p) == {}
    assert numeric_leaves(P(weight_init={"dist": "constant", "value": 0.5})) == {}
