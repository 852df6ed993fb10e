"""PatchedSynapse, StaticPatchedSynapse and HebbianPatchedSynapse against references here.

The reference matrix is built the way ngc-learn builds it (reference section 3.10): an
(n d_i + 2 s_i, n d_j + 2 s_j) matrix, block k written at rows [k d_i, (k+1) d_i + 2 s_i) and
columns [k d_j, (k+1) d_j + 2 s_j) with later blocks overwriting earlier ones, then the first
and last s rows and columns zeroed. ngcspec's dense equivalent must be its interior. The
Hebbian reference is a NumPy re-implementation of HebbianSynapse's update on that dense
matrix with its mask set to the patches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import ngcspec
from ngcspec.components.patched import HebbianPatchedParams, PatchedParams, Patches
from ngcspec.lazy import jax, jnp
from ngcspec.registry import StepContext, get_kind
from ngcspec.single import Single

TOL = dict(rtol=2e-5, atol=2e-6)
KINDS = ("PatchedSynapse", "StaticPatchedSynapse", "HebbianPatchedSynapse")

# (n_sub_models, [N_in, N_out], [s_i, s_j])
GEOMETRIES = [
    (3, (6, 9), (0, 0)),       # block-diagonal
    (3, (9, 6), (1, 1)),       # overlapping neighbours
    (4, (8, 12), (0, 2)),      # stride on the outputs only (ngc-learn's w_masks bug case)
    (2, (4, 6), (3, 1)),       # stride wider than a patch: blocks reach past their neighbours
    (1, (5, 3), (0, 0)),       # one patch: a plain dense matrix
]


def arr(x):
    return np.asarray(x, np.float64)


def ngclearn_matrix(n, shape, stride, blocks):
    """ngc-learn's construction, written out; returns the enlarged matrix."""
    d_i, d_j = shape[0] // n, shape[1] // n
    s_i, s_j = stride
    w = np.zeros((n * d_i + 2 * s_i, n * d_j + 2 * s_j))
    for k in range(n):
        w[k * d_i:(k + 1) * d_i + 2 * s_i, k * d_j:(k + 1) * d_j + 2 * s_j] = blocks[k]
    if s_i:
        w[:s_i] = 0.0
        w[-s_i:] = 0.0
    if s_j:
        w[:, :s_j] = 0.0
        w[:, -s_j:] = 0.0
    return w


def interior(w, shape, stride):
    return w[stride[0]:stride[0] + shape[0], stride[1]:stride[1] + shape[1]]


def step(syn: Single, which: str = "advance", **inputs) -> dict:
    """Single.advance / Single.evolve through a cached jit (eager dispatch is slow here)."""
    syn.set(**inputs)
    cache = syn.__dict__.setdefault("_jit", {})
    if which not in cache:
        kind, p = syn.kind, syn.p
        ctx = StepContext(jnp.float32(syn.dt), jnp.float32(0.0), None, syn.batch_size)
        cache[which] = jax.jit(lambda s: getattr(kind, which)(p, s, ctx))
    syn.state = {**syn.state, **cache[which](syn.state)}
    return syn.state


def patched(kind="PatchedSynapse", geometry=GEOMETRIES[1], batch=2, **params):
    n, shape, stride = geometry
    params.setdefault("weight_init", {"dist": "gaussian", "std": 0.5})
    return Single(kind, shape=list(shape), n_sub_models=n, stride_shape=list(stride),
                  batch_size=batch, **params)


# --- geometry ------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_dense_equivalent_is_the_interior_of_ngclearns_matrix(geometry):
    n, shape, stride = geometry
    g = Patches(n, *shape, *stride)
    blocks = np.random.default_rng(0).uniform(1.0, 2.0, size=g.blocks_shape)   # never 0
    full = ngclearn_matrix(n, shape, stride, blocks)
    np.testing.assert_array_equal(g.to_dense(blocks), interior(full, shape, stride))
    # nothing is lost by keeping the declared shape: the border is always zero
    assert np.count_nonzero(full) == np.count_nonzero(interior(full, shape, stride))
    np.testing.assert_array_equal(g.support(), interior(full, shape, stride) != 0)
    # the same from the JAX side (used inside traced code)
    np.testing.assert_allclose(arr(g.to_dense(jnp.asarray(blocks))), g.to_dense(blocks), **TOL)
    # round trip: to_blocks keeps exactly the owned entries
    np.testing.assert_array_equal(g.to_blocks(g.to_dense(blocks)), blocks * g.owner())


def test_block_diagonal_and_overlapping_masks_by_hand():
    diag = Patches(3, 6, 9).support().astype(int)
    np.testing.assert_array_equal(diag, [
        [1, 1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 1, 1],
        [0, 0, 0, 0, 0, 0, 1, 1, 1],
    ])
    # 3 patches on [9, 6], stride [1, 1]: patch k joins inputs [3k-1, 3k+4) to outputs
    # [2k-1, 2k+3), clipped; the labels say which patch owns an entry (the later one).
    g = Patches(3, 9, 6, 1, 1)
    labels = g.to_dense(np.arange(1, 4, dtype=float)[:, None, None] * np.ones(g.blocks_shape))
    np.testing.assert_array_equal(labels.astype(int), [
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 2, 2, 2, 2, 0],
        [1, 2, 2, 2, 2, 0],
        [0, 2, 2, 2, 2, 0],
        [0, 2, 2, 3, 3, 3],
        [0, 2, 2, 3, 3, 3],
        [0, 0, 0, 3, 3, 3],
        [0, 0, 0, 3, 3, 3],
    ])


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_mask_and_weights_outside_the_patches(kind):
    syn = patched(kind, GEOMETRIES[2])
    g = Patches(4, 8, 12, 0, 2)
    assert syn["weights"].shape == g.blocks_shape == (4, 2, 7)
    np.testing.assert_array_equal(syn["mask"], g.owner())
    np.testing.assert_array_equal(arr(syn["weights"])[~g.owner()], 0.0)
    dense = arr(get_kind(kind).dense(syn.model, syn.state))
    assert np.all(dense[~g.support()] == 0) and np.all(dense[g.support()] != 0)


@pytest.mark.slow
def test_each_block_is_its_own_draw_of_weight_init():
    syn = patched(geometry=(16, (128, 128), (0, 0)), weight_init={"dist": "fan_in_gaussian"})
    w = arr(syn["weights"])
    assert not np.allclose(w[0], w[1])
    assert abs(w.std() - 1 / np.sqrt(8)) < 0.02          # fan-in = rows of a block (8)
    assert PatchedParams(shape=[4, 4]).weight_init.dist == "fan_in_gaussian"


# --- advance -------------------------------------------------------------------------------

@pytest.mark.slow
def test_block_diagonal_outputs_equal_independent_dense_submodels():
    n, d_i, d_j = 4, 5, 3
    syn = Single("PatchedSynapse", shape=[n * d_i, n * d_j], n_sub_models=n, batch_size=3,
                 resist_scale=1.5, bias_init={"dist": "gaussian", "std": 0.3})
    x = np.random.default_rng(1).normal(size=(3, n * d_i))
    step(syn, inputs=x)
    w, b = arr(syn["weights"]), arr(syn["biases"])
    subs = []
    for k in range(n):          # n separate dense synapses, each on its slice of the input
        sub = Single("DenseSynapse", shape=[d_i, d_j], batch_size=3, resist_scale=1.5)
        sub.set(weights=w[k], biases=b[k * d_j:(k + 1) * d_j])
        subs.append(arr(step(sub, inputs=x[:, k * d_i:(k + 1) * d_i])["outputs"]))
    np.testing.assert_allclose(syn["outputs"], np.concatenate(subs, axis=1), **TOL)
    np.testing.assert_allclose(syn["outputs"], np.concatenate(
        [x[:, k * d_i:(k + 1) * d_i] @ w[k] for k in range(n)], axis=1) * 1.5 + b, **TOL)


@pytest.mark.slow
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_forward_and_transpose_equal_the_dense_equivalent(geometry):
    n, shape, stride = geometry
    syn = patched(geometry=geometry, batch=3, resist_scale=0.7,
                  bias_init={"dist": "constant", "value": 0.2})
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, shape[0])), rng.normal(size=(3, shape[1]))
    step(syn, inputs=x, post_in=y)
    full = ngclearn_matrix(n, shape, stride, arr(syn["weights"]))
    w = interior(full, shape, stride)
    np.testing.assert_allclose(syn["outputs"], x @ w * 0.7 + 0.2, **TOL)
    np.testing.assert_allclose(syn["pre_out"], y @ w.T, **TOL)       # no scale, no bias
    # ngc-learn's enlarged I/O gives the same numbers on the interior
    xs = np.pad(x, ((0, 0), (stride[0], stride[0])))
    np.testing.assert_allclose(interior(xs @ full, (3, shape[1]), (0, stride[1])) * 0.7 + 0.2,
                               syn["outputs"], **TOL)


def test_transpose_path_is_zero_without_post_in_and_reset_clears_it():
    syn = patched(batch=2)
    step(syn, inputs=np.ones((2, 9)))
    np.testing.assert_array_equal(syn["pre_out"], 0.0)
    step(syn, inputs=np.ones((2, 9)), post_in=np.ones((2, 6)))
    assert np.any(arr(syn["pre_out"]) != 0)
    w_before = arr(syn["weights"])
    syn.reset()
    for name in ("inputs", "outputs", "post_in", "pre_out"):
        np.testing.assert_array_equal(syn[name], 0.0)
    np.testing.assert_array_equal(syn["weights"], w_before)


def test_weights_written_into_unowned_entries_do_not_count_twice():
    """A block file (init: {weights: ...}) that fills overlapping entries in every block it
    covers still gives the reference matrix: the mask keeps one owner per entry."""
    syn = patched(geometry=(3, (9, 6), (1, 1)), batch=1)
    g = Patches(3, 9, 6, 1, 1)
    syn.set(weights=np.ones(g.blocks_shape))
    x = np.ones((1, 9))
    step(syn, inputs=x)
    np.testing.assert_allclose(syn["outputs"], x @ g.support(), **TOL)
    np.testing.assert_allclose(syn["outputs"], [[4, 7, 7, 7, 7, 4]], **TOL)


@pytest.mark.slow
def test_p_conn_and_block_mask():
    g = Patches(2, 8, 8, 1, 1)
    block_mask = np.ones((8, 8))
    block_mask[:, 3] = 0.0
    syn = patched(geometry=(2, (8, 8), (1, 1)), batch=1, p_conn=0.5, seed=4,
                  block_mask=block_mask.tolist(), weight_init={"dist": "constant", "value": 1.0})
    mask = arr(syn["mask"])
    dense_mask = g.to_dense(mask)
    assert np.all(dense_mask[:, 3] == 0) and np.all(dense_mask[~g.support()] == 0)
    kept = dense_mask[g.support() & (block_mask > 0)]
    assert 0.2 < kept.mean() < 0.8 and set(np.unique(kept)) == {0.0, 1.0}
    x = np.ones((1, 8))
    np.testing.assert_allclose(step(syn, inputs=x)["outputs"], x @ dense_mask, **TOL)


# --- HebbianPatchedSynapse: HebbianSynapse's update restricted to the patches --------------

def ref_prior(w, name, lmbda, l1_ratio=0.5):
    if name == "l2":
        return -lmbda * w
    if name == "l1":
        return -lmbda * np.sign(w)
    if name == "elastic_net":
        return -lmbda * (l1_ratio * np.sign(w) + (1 - l1_ratio) / 2 * w)
    return np.zeros_like(w)


class DenseHebbianRef:
    """NumPy HebbianSynapse (reference section 3.2) on the dense matrix, mask = patches."""

    def __init__(self, w, b, mask, *, eta, w_bound=1.0, is_nonnegative=False,
                 prior=("none", 0.0), sign_value=1.0, optim="sgd", pre_wght=1.0,
                 post_wght=1.0, learn_bias=False):
        self.w, self.b, self.mask = arr(w).copy(), arr(b).copy(), arr(mask)
        self.eta, self.w_bound, self.nonneg, self.prior = eta, w_bound, is_nonnegative, prior
        self.sign, self.optim, self.learn_bias = sign_value, optim, learn_bias
        self.pre_wght, self.post_wght = pre_wght, post_wght
        self.t = 0
        self.m = [np.zeros_like(self.w), np.zeros_like(self.b)]
        self.v = [np.zeros_like(self.w), np.zeros_like(self.b)]

    def evolve(self, pre, post):
        pre, post = arr(pre) * self.pre_wght, arr(post) * self.post_wght
        h = pre.T @ post
        if self.w_bound > 0:
            h = h * (self.w_bound - np.abs(self.w))
        dw = (h + ref_prior(self.w, *self.prior)) * self.sign
        db = post.sum(axis=0) * self.sign
        self.t += 1
        params, grads = [self.w, self.b], [dw, db]
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
        return dw * self.mask, db


def compare_hebbian(geometry, steps=3, batch=3, seed=0, **kw):
    n, shape, stride = geometry
    g = Patches(n, *shape, *stride)
    params = {k: v for k, v in kw.items() if k not in ("prior_ref", "optim_ref")}
    syn = patched("HebbianPatchedSynapse", geometry, batch=batch, **params)
    ref = DenseHebbianRef(
        g.to_dense(arr(syn["weights"])), arr(syn["biases"]), g.to_dense(arr(syn["mask"])),
        eta=kw["eta"], w_bound=kw.get("w_bound", 1.0),
        is_nonnegative=kw.get("is_nonnegative", False), prior=kw.get("prior_ref", ("none", 0.0)),
        sign_value=kw.get("sign_value", 1.0), optim=kw.get("optim_type", "sgd"),
        pre_wght=kw.get("pre_wght", 1.0), post_wght=kw.get("post_wght", 1.0),
        learn_bias=kw.get("bias_init") is not None)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        pre, post = rng.normal(size=(batch, shape[0])), rng.normal(size=(batch, shape[1]))
        dw, db = ref.evolve(pre, post)
        step(syn, "evolve", pre=pre, post=post)
        np.testing.assert_allclose(g.to_dense(arr(syn["dWeights"])), dw, **TOL)
        np.testing.assert_allclose(syn["dBiases"], db, **TOL)
        np.testing.assert_allclose(g.to_dense(arr(syn["weights"])), ref.w, **TOL)
        np.testing.assert_allclose(syn["biases"], ref.b, **TOL)
        # nothing outside the patches, in either layout
        assert np.all(arr(syn["weights"])[arr(syn["mask"]) == 0] == 0)
    return syn


@pytest.mark.slow
@pytest.mark.parametrize("geometry", GEOMETRIES[:4])
def test_hebbian_update_is_the_dense_update_restricted_to_the_patches(geometry):
    compare_hebbian(geometry, eta=0.05, sign_value=-1.0, w_bound=1.0)


@pytest.mark.parametrize("prior, prior_ref", [
    (["l2", 0.2], ("l2", 0.2)), (["lasso", 0.1], ("l1", 0.1)),
    (["elastic_net", 0.2, 0.3], ("elastic_net", 0.2, 0.3)),
])
def test_hebbian_priors_adam_and_bias(prior, prior_ref):
    syn = compare_hebbian((3, (9, 6), (1, 1)), eta=0.02, prior=prior, prior_ref=prior_ref,
                          optim_type="adam", sign_value=-1.0, w_bound=0.0, pre_wght=0.5,
                          post_wght=2.0, bias_init={"dist": "constant", "value": 0.0})
    assert int(syn["opt_count"]) == 3


def test_hebbian_clipping_and_nonnegative():
    compare_hebbian((2, (4, 6), (0, 1)), eta=3.0, w_bound=0.7, is_nonnegative=True,
                    sign_value=-1.0, steps=2)


@pytest.mark.slow
def test_hebbian_with_one_patch_is_hebbian_synapse():
    kw = dict(eta=0.1, sign_value=-1.0, optim_type="adam", prior=["l1", 0.05],
              weight_init={"dist": "gaussian", "std": 0.5})
    a = Single("HebbianPatchedSynapse", shape=[4, 3], n_sub_models=1, batch_size=2, **kw)
    b = Single("HebbianSynapse", shape=[4, 3], batch_size=2, **kw)
    b.set(weights=a["weights"][0])
    rng = np.random.default_rng(3)
    for _ in range(2):
        pre, post = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
        step(a, "evolve", pre=pre, post=post)
        step(b, "evolve", pre=pre, post=post)
    np.testing.assert_allclose(a["weights"][0], b["weights"], **TOL)
    np.testing.assert_allclose(a["opt_vW"][0], b["opt_vW"], **TOL)


def test_zero_weights_keep_learning():
    """ngc-learn multiplies the update by 1[W != 0]: weights initialised to 0 never learn and
    a weight that reaches exactly 0 stays there. Here the support is structural."""
    syn = patched("HebbianPatchedSynapse", (2, (4, 4), (0, 0)), batch=1, eta=0.5,
                  sign_value=-1.0, w_bound=0.0, weight_init={"dist": "constant", "value": 0.0})
    g = Patches(2, 4, 4)
    step(syn, "evolve", pre=np.ones((1, 4)), post=np.ones((1, 4)))
    np.testing.assert_allclose(g.to_dense(arr(syn["weights"])), 0.5 * g.support(), **TOL)
    # an update that lands exactly on 0, then one that moves it away again
    step(syn, "evolve", pre=np.ones((1, 4)), post=-np.ones((1, 4)))
    np.testing.assert_array_equal(syn["weights"], 0.0)
    step(syn, "evolve", pre=np.ones((1, 4)), post=np.ones((1, 4)))
    np.testing.assert_allclose(g.to_dense(arr(syn["weights"])), 0.5 * g.support(), **TOL)


def test_hebbian_block_mask_and_p_conn_stay_pruned():
    block_mask = np.ones((6, 6))
    block_mask[0, 0] = block_mask[4, 5] = 0.0
    syn = patched("HebbianPatchedSynapse", (3, (6, 6), (1, 1)), batch=1, eta=0.3,
                  sign_value=-1.0, w_bound=0.0, p_conn=0.7, seed=2, block_mask=block_mask.tolist(),
                  weight_init={"dist": "constant", "value": 0.0})
    g = Patches(3, 6, 6, 1, 1)
    for _ in range(3):
        step(syn, "evolve", pre=np.ones((1, 6)), post=np.ones((1, 6)))
    w, mask = g.to_dense(arr(syn["weights"])), g.to_dense(arr(syn["mask"]))
    assert w[0, 0] == 0 and w[4, 5] == 0
    assert np.all(w[mask == 0] == 0)
    np.testing.assert_allclose(w[mask == 1], 0.9, rtol=1e-6)
    assert 0 < (mask[g.support()] == 0).sum()


def test_hebbian_state_shapes_and_reset():
    syn = patched("HebbianPatchedSynapse", (3, (9, 6), (1, 1)), batch=2, eta=0.1,
                  optim_type="adam")
    shapes = get_kind("HebbianPatchedSynapse").shapes(syn.model)
    for name in ("weights", "mask", "dWeights", "opt_mW", "opt_vW"):
        assert shapes[name] == (3, 5, 4), name
    assert shapes["pre"] == (9,) and shapes["post"] == (6,) and shapes["dBiases"] == (6,)
    step(syn, "evolve", pre=np.ones((2, 9)), post=np.ones((2, 6)))
    syn.reset()
    assert int(syn["opt_count"]) == 1 and np.any(arr(syn["opt_mW"]) != 0)
    for name in ("pre", "post", "dWeights", "dBiases"):
        np.testing.assert_array_equal(syn[name], 0.0)


def test_hebbian_evolve_compiles_under_jit():
    syn = patched("HebbianPatchedSynapse", (3, (9, 6), (1, 1)), batch=2, eta=0.1)
    kind, p = syn.kind, syn.p
    ctx = StepContext(jnp.float32(1.0), jnp.float32(0.0), None, 2)
    fn = jax.jit(lambda s: kind.evolve(p, s, ctx))
    state = {**syn.state, "pre": jnp.ones((2, 9)), "post": jnp.ones((2, 6))}
    eager = syn.evolve(pre=np.ones((2, 9)), post=np.ones((2, 6)))
    np.testing.assert_allclose(fn(state)["weights"], eager["weights"], **TOL)


# --- parameters and validation -------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_documentation_and_parameters(kind):
    k = get_kind(kind)
    assert k.family == "synapses" and "Deviations from ngc-learn" in k.describe()
    for name, field in k.Params.model_fields.items():
        assert field.description, f"{kind}.{name} has no description"
    assert "batch_size" not in k.Params.model_fields
    p = k.Params(shape=[4, 4])
    assert p.n_sub_models == 1 and tuple(p.stride_shape) == (0, 0) and p.resist_scale == 1.0


def test_hebbian_patched_defaults_follow_the_seed():
    p = HebbianPatchedParams(shape=[4, 4])
    assert (p.eta, p.w_bound, p.is_nonnegative, p.sign_value, p.optim_type) == \
        (0.0, 1.0, False, 1.0, "sgd")
    assert p.prior.family == "none" and p.block_mask is None and p.bias_init is None
    assert (p.pre_wght, p.post_wght) == (1.0, 1.0)
    with pytest.raises(ValidationError):
        HebbianPatchedParams(shape=[4, 4], stride_shape=[-1, 0])


CIRCUIT = """
ngcspec: 1
name: t
components:
  W: {{kind: {kind}, shape: {shape}, n_sub_models: {n}{extra}}}
clamps:
  W.inputs: 1.0
schedule: [reset, advance]
run: {{record: {{W.outputs: final}}}}
"""


@pytest.mark.parametrize("kind", KINDS)
def test_non_divisible_shape_is_a_validation_error_naming_the_field(kind):
    with pytest.raises(ngcspec.CircuitError) as err:
        ngcspec.load(CIRCUIT.format(kind=kind, shape="[10, 9]", n=3, extra=""))
    problems = err.value.problems
    assert len(problems) == 1
    assert problems[0].path.endswith("n_sub_models"), problems[0].path
    assert "10 % 3 = 1" in problems[0].message and "shape" in problems[0].message
    assert problems[0].line == 5                       # located in the file


@pytest.mark.parametrize("extra, field", [
    (", block_mask: [[1, 0], [0, 1]]", "block_mask"),
    (", weight_init: {dist: gaussian, col_mask: [5]}", "weight_init"),
])
def test_other_validation_errors(extra, field):
    with pytest.raises(ngcspec.CircuitError) as err:
        ngcspec.load(CIRCUIT.format(kind="PatchedSynapse", shape="[6, 6]", n=3, extra=extra))
    assert any(p.path.endswith(field) for p in err.value.problems), str(err.value)


def test_a_valid_patched_circuit_runs():
    c = ngcspec.load(CIRCUIT.format(kind="StaticPatchedSynapse", shape="[9, 6]", n=3,
                                    extra=", stride_shape: [1, 1], "
                                          "weight_init: {dist: constant, value: 1.0}"))
    out = c.run().state["W"]["outputs"]
    np.testing.assert_allclose(out, [[4, 7, 7, 7, 7, 4]])


# --- the example circuits ------------------------------------------------------------------

CIRCUITS = Path(__file__).resolve().parent.parent / "circuits"


def test_overlap_demo_example_counts_the_connections():
    res = ngcspec.load(CIRCUITS / "patched_overlap_demo.yaml").run()
    np.testing.assert_allclose(res.records["show/W.outputs"], [[4, 7, 7, 7, 7, 4]])
    np.testing.assert_allclose(res.records["show/W.pre_out"], [[3, 3, 5, 5, 4, 5, 5, 3, 3]])
    assert res.state["W"]["weights"].shape == (3, 5, 4)


@pytest.mark.slow
def test_patched_pc_digits_example_learns_within_the_patches():
    res = ngcspec.load(CIRCUITS / "patched_pc_digits.yaml").run(epochs=2)
    energy = [m["recon_energy"] for m in res.metrics["train"]]
    assert energy[1] > energy[0] + 50                 # about -210 then -85 (see the header)
    g = Patches(4, 32, 64, 0, 4)
    w = arr(res.state["W1"]["weights"])
    assert w.shape == (4, 8, 24) and np.all(w[~g.owner()] == 0)
    dense = g.to_dense(w)
    assert np.all(dense[~g.support()] == 0) and np.count_nonzero(dense) == g.support().sum()
