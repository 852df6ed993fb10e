"""Convolutional synapses (reference section 3.11) against references written here.

Expected values come from plain numpy re-implementations of the operators (a strided
cross-correlation with lax's SAME convention, and the transposed convolution as the adjoint
of a correlation with the rotated kernel, i.e. a scatter), from ``jax.grad`` of the local
energy sum(post * op(pre, K)) written directly with lax, from the bilinear identities the
update must satisfy, and from the reference's hand check. Nothing is copied from the
component's own output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import ngcspec
from ngcspec.registry import get_kind
from ngcspec.single import Single

jnp = jax.numpy
lax = jax.lax

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "circuits" / "conv_pc_digits.yaml"
DECONV_EXAMPLE = ROOT / "circuits" / "conv_deconv_pc_digits.yaml"
NGC = str(Path(sys.executable).with_name("ngc"))
KINDS = ["ConvSynapse", "StaticConvSynapse", "DeconvSynapse", "StaticDeconvSynapse",
         "HebbianConvSynapse", "HebbianDeconvSynapse", "TraceSTDPConvSynapse",
         "TraceSTDPDeconvSynapse"]
DECONV = {"DeconvSynapse", "StaticDeconvSynapse", "HebbianDeconvSynapse",
          "TraceSTDPDeconvSynapse"}
TOL = dict(rtol=2e-5, atol=2e-5)


def arr(x):
    return np.asarray(x, np.float64)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# --- numpy references ------------------------------------------------------------------------

def same_pads(n, k, s):
    """lax/TF SAME padding of a strided correlation: (low, high), odd pixel at the high end."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def np_conv(x, k, stride, padding):
    """y[b,i,j,o] = sum_{a,c,ci} x_pad[b, i s_h + a, j s_w + c, ci] K[a, c, ci, o]."""
    x, k = arr(x), arr(k)
    (sh, sw), (kh, kw) = pair(stride), k.shape[:2]
    _, h, w, _ = x.shape
    if padding == "SAME":
        ph, pw = same_pads(h, kh, sh), same_pads(w, kw, sw)
        ho, wo = -(-h // sh), -(-w // sw)
    else:
        ph = pw = (0, 0)
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    y = np.zeros((x.shape[0], ho, wo, k.shape[3]))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            y[:, i, j, :] = np.einsum("bacx,acxo->bo", patch, k)
    return y


def np_conv_dk(x, post, kshape, stride, padding):
    """dK[a,c,ci,o] = sum_{b,i,j} post[b,i,j,o] x_pad[b, i s_h + a, j s_w + c, ci]."""
    x, post = arr(x), arr(post)
    (sh, sw), (kh, kw) = pair(stride), kshape[:2]
    _, h, w, _ = x.shape
    ph, pw = ((same_pads(h, kh, sh), same_pads(w, kw, sw)) if padding == "SAME"
              else ((0, 0), (0, 0)))
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    dk = np.zeros(kshape)
    for i in range(post.shape[1]):
        for j in range(post.shape[2]):
            patch = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            dk += np.einsum("bacx,bo->acxo", patch, post[:, i, j, :])
    return dk


def deconv_size(n, k, s, padding):
    # reference: SAME -> n s; VALID -> (n - 1) s + k (n s when the stride exceeds the kernel)
    return n * s if padding == "SAME" else (n - 1) * s + k if s <= k else n * s


def np_deconv(x, k, stride, padding):
    """lax.conv_transpose (no kernel transposition) as the adjoint of a strided correlation on
    the output image with the rotated kernel: input pixel (i, j) paints K rotated by 180
    degrees at (i s_h - low_h, j s_w - low_w), low being that correlation's SAME padding."""
    x, k = arr(x), arr(k)
    (sh, sw), (kh, kw) = pair(stride), k.shape[:2]
    b, h, w, _ = x.shape
    n_h, n_w = deconv_size(h, kh, sh, padding), deconv_size(w, kw, sw, padding)
    if padding == "SAME":
        lo_h = max((h - 1) * sh + kh - n_h, 0) // 2
        lo_w = max((w - 1) * sw + kw - n_w, 0) // 2
    else:
        lo_h = lo_w = 0
    big = np.zeros((b, n_h + 2 * kh + 2 * sh, n_w + 2 * kw + 2 * sw, k.shape[3]))
    rot = k[::-1, ::-1]
    for i in range(h):
        for j in range(w):
            big[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :] += np.einsum(
                "bx,acxo->baco", x[:, i, j, :], rot)
    return big[:, lo_h:lo_h + n_h, lo_w:lo_w + n_w, :]


def np_op(kind, x, k, stride, padding):
    return (np_deconv if kind in DECONV else np_conv)(x, k, stride, padding)


def lax_op(kind, stride, padding):
    """The forward operator written directly with lax (the reference's definition)."""
    dn = ("NHWC", "HWIO", "NHWC")
    if kind in DECONV:
        return lambda x, k: lax.conv_transpose(x, k, pair(stride), padding, dimension_numbers=dn)
    return lambda x, k: lax.conv_general_dilated(x, k, pair(stride), padding,
                                                 dimension_numbers=dn)


def syn(kind, kshape, x_shape, stride, padding, batch_size=2, **params):
    """A synapse with a random kernel N(0, 0.5^2) from numpy (unless filter_init is given)."""
    random_kernel = "filter_init" not in params
    params.setdefault("filter_init", {"dist": "constant", "value": 0.0})
    s = Single(kind, batch_size=batch_size, shape=list(kshape), x_shape=list(x_shape),
               stride=stride if isinstance(stride, int) else list(stride), padding=padding,
               **params)
    if random_kernel:
        s.set(weights=rng.normal(scale=0.5, size=kshape))
    return s


rng = np.random.default_rng(0)

# (kernel, image, stride, padding): odd and even sizes, non-square images and kernels,
# strides 1 and 2 (and one per-axis stride), several channels.
CASES = [
    ((3, 3, 2, 3), (7, 5), 1, "SAME"),
    ((3, 3, 2, 3), (7, 5), 2, "SAME"),
    ((2, 3, 2, 3), (6, 8), 2, "SAME"),
    ((3, 3, 2, 3), (7, 5), 1, "VALID"),
    ((3, 2, 2, 3), (6, 8), 2, "VALID"),
    ((2, 2, 1, 2), (5, 4), (2, 1), "VALID"),
    ((4, 4, 2, 1), (8, 8), 2, "SAME"),
]
IDS = [f"k{k[0]}x{k[1]}-x{x[0]}x{x[1]}-s{s}-{p}" for k, x, s, p in CASES]


# ---------------------------------------------------------------------------------------------
# The registry contract

@pytest.mark.parametrize("kind", KINDS)
def test_kind_is_registered_and_documented(kind):
    cls = get_kind(kind)
    assert cls is not None and cls.family == "synapses"
    doc = cls.__doc__
    assert "Deviations from ngc-learn" in doc and "outputs =" in doc and "Compartments" in doc
    fields = cls.Params.model_fields
    assert "batch_size" not in fields
    assert all(f.description for f in fields.values()), kind
    cls.Params.model_json_schema()
    assert cls.plastic == kind.startswith(("Hebbian", "TraceSTDP"))


def test_validation_does_not_import_jax():
    code = ("import sys, ngcspec.registry as r; r.kinds(); "
            "from ngcspec.resolve import resolve_file; "
            f"resolve_file({str(EXAMPLE)!r}); "
            "assert 'jax' not in sys.modules, 'jax imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------
# Forward operators and shapes

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ConvSynapse", "DeconvSynapse"])
@pytest.mark.parametrize("kshape,x_shape,stride,padding", CASES, ids=IDS)
def test_outputs_and_transpose_path_match_numpy(kind, kshape, x_shape, stride, padding):
    s = syn(kind, kshape, x_shape, stride, padding, resist_scale=0.5,
            bias_init={"dist": "constant", "value": 0.0})
    s.set(biases=rng.normal(size=kshape[3]))
    k, b = arr(s["weights"]), arr(s["biases"])
    assert b.shape == (kshape[3],)
    out_shape = s.shapes["outputs"]
    x = rng.normal(size=(2, *x_shape, kshape[2]))
    post_in = rng.normal(size=(2, *out_shape))
    s.advance(inputs=x, post_in=post_in)

    # forward: numpy operator, and the shapes predicted by shapes() (plain Python)
    want = np_op(kind, x, k, stride, padding) * 0.5 + b
    got = arr(s["outputs"])
    assert got.shape == (2, *out_shape) == want.shape
    np.testing.assert_allclose(got, want, **TOL)
    assert s.shapes["inputs"] == s.shapes["pre_out"] == (*x_shape, kshape[2])
    assert s.shapes["post_in"] == out_shape

    # transpose path: <post_in, op(x')> = <pre_out, x'> for every x', so pre_out = op^T(post_in)
    pre_out = arr(s["pre_out"])
    assert pre_out.shape == x.shape
    for _ in range(2):
        x2 = rng.normal(size=x.shape)
        lhs = np.sum(post_in * np_op(kind, x2, k, stride, padding), axis=(1, 2, 3))
        np.testing.assert_allclose(np.sum(pre_out * x2, axis=(1, 2, 3)), lhs, rtol=1e-4,
                                   atol=1e-4)
    # nothing sent back: zeros
    s.advance(inputs=x, post_in=np.zeros_like(post_in))
    assert not np.any(arr(s["pre_out"]))


@pytest.mark.slow
@pytest.mark.parametrize("padding,stride", [("SAME", 1), ("SAME", 2), ("VALID", 1)])
def test_conv_adjoint_is_a_deconv_with_the_rotated_kernel(padding, stride):
    """What the docstring promises: conv^T(y) = deconv(y, K rotated 180, in/out swapped)."""
    conv = syn("ConvSynapse", (3, 3, 2, 3), (6, 6), stride, padding)
    k = arr(conv["weights"])
    y = rng.normal(size=(2, *conv.shapes["outputs"]))
    conv.advance(post_in=y)
    deconv = syn("StaticDeconvSynapse", (3, 3, 3, 2), conv.shapes["outputs"][:2], stride,
                 padding)
    deconv.set(weights=np.transpose(k[::-1, ::-1], (0, 1, 3, 2)))
    deconv.advance(inputs=y)
    np.testing.assert_allclose(arr(deconv["outputs"]), arr(conv["pre_out"]), **TOL)


def test_deconv_paints_the_rotated_kernel():
    # one pixel, stride = kernel = 2, VALID: lax.conv_transpose places K rotated by 180
    s = syn("DeconvSynapse", (2, 2, 1, 1), (1, 1), 2, "VALID", batch_size=1)
    s.set(weights=np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1))
    s.advance(inputs=np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(arr(s["outputs"])[0, :, :, 0], [[4, 3], [2, 1]])


@pytest.mark.slow
@pytest.mark.parametrize("kind,kshape,x_shape,stride,padding,want", [
    ("ConvSynapse", (3, 3, 1, 1), (8, 8), 2, "SAME", (4, 4, 1)),        # ceil(8/2)
    ("ConvSynapse", (3, 3, 1, 1), (7, 9), 2, "SAME", (4, 5, 1)),        # ceil(7/2), ceil(9/2)
    ("ConvSynapse", (3, 3, 1, 2), (7, 8), 2, "VALID", (3, 3, 2)),       # (7-3)//2+1, (8-3)//2+1
    ("ConvSynapse", (5, 5, 1, 1), (4, 4), 1, "SAME", (4, 4, 1)),        # kernel > image, SAME
    ("DeconvSynapse", (3, 3, 1, 1), (4, 5), 2, "SAME", (8, 10, 1)),     # H s
    ("DeconvSynapse", (3, 3, 1, 1), (4, 5), 2, "VALID", (9, 11, 1)),    # (H-1) s + k
    ("DeconvSynapse", (2, 2, 1, 1), (3, 3), 3, "VALID", (9, 9, 1)),     # s > k: H s
])
def test_output_sizes_follow_the_reference_formulas(kind, kshape, x_shape, stride, padding,
                                                    want):
    cls = get_kind(kind)
    p = cls.Params(shape=kshape, x_shape=x_shape, stride=stride, padding=padding)
    assert cls.shapes(p)["outputs"] == want          # plain Python, no JAX
    s = syn(kind, kshape, x_shape, stride, padding, batch_size=1)
    s.advance(inputs=np.ones((1, *x_shape, kshape[2])))
    assert s["outputs"].shape == (1, *want)


@pytest.mark.slow
def test_filter_init_draws_the_flattened_kernel_matrix():
    # fan-in = k_h k_w C_in = 200 (ngc-learn's 4-D draw would take k_h = 5); col_mask picks
    # output channels
    s = Single("ConvSynapse", shape=[5, 5, 8, 64], x_shape=[5, 5], padding="VALID",
               filter_init={"dist": "fan_in_gaussian", "col_mask": 16})
    k = arr(s["weights"])
    kept = np.flatnonzero(np.any(k != 0, axis=(0, 1, 2)))
    assert len(kept) == 16
    assert abs(k[..., kept].std() - np.sqrt(1 / 200)) < 0.004
    assert np.all(arr(s["biases"]) == 0)


# ---------------------------------------------------------------------------------------------
# Hebbian update: the VJP of the forward operator

def test_reference_hand_check():
    # x = ones(2x2), K = ones(2x2), SAME, stride 1: y = [[4,2],[2,1]],
    # dK(pre = x, post = y) = [[9,6],[6,4]], dX = [[4,6],[6,9]]
    s = syn("HebbianConvSynapse", (2, 2, 1, 1), (2, 2), 1, "SAME", batch_size=1,
            filter_init={"dist": "constant", "value": 1.0})
    x = np.ones((1, 2, 2, 1))
    s.advance(inputs=x)
    y = arr(s["outputs"])
    np.testing.assert_array_equal(y[0, :, :, 0], [[4, 2], [2, 1]])
    s.evolve(pre=x, post=y)
    np.testing.assert_array_equal(arr(s["dWeights"])[:, :, 0, 0], [[9, 6], [6, 4]])
    np.testing.assert_array_equal(arr(s["dInputs"])[0, :, :, 0], [[4, 6], [6, 9]])
    np.testing.assert_array_equal(arr(s["weights"]), np.ones((2, 2, 1, 1)))   # eta = 0
    s.advance(post_in=y)
    np.testing.assert_array_equal(arr(s["pre_out"])[0, :, :, 0], [[4, 6], [6, 9]])


HEBB_CASES = [CASES[1], CASES[3], CASES[4], CASES[6]]
HEBB_IDS = [IDS[1], IDS[3], IDS[4], IDS[6]]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["HebbianConvSynapse", "HebbianDeconvSynapse"])
@pytest.mark.parametrize("kshape,x_shape,stride,padding", HEBB_CASES, ids=HEBB_IDS)
def test_hebbian_update_is_the_gradient_of_the_local_energy(kind, kshape, x_shape, stride,
                                                            padding):
    sign = -1.0
    s = syn(kind, kshape, x_shape, stride, padding, sign_value=sign)
    k = arr(s["weights"])
    pre = rng.normal(size=(2, *x_shape, kshape[2]))
    post = rng.normal(size=(2, *s.shapes["outputs"]))
    s.evolve(pre=pre, post=post)
    dk, dx = arr(s["dWeights"]), arr(s["dInputs"])

    op = lax_op(kind, stride, padding)
    energy = lambda x, kk: jnp.sum(jnp.asarray(post, jnp.float32) * op(x, kk))  # noqa: E731
    g_x, g_k = jax.jit(jax.grad(energy, argnums=(0, 1)))(jnp.asarray(pre, jnp.float32),
                                                 jnp.asarray(k, jnp.float32))
    np.testing.assert_allclose(dk, sign * arr(g_k), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, sign * arr(g_x), rtol=1e-4, atol=1e-4)

    # and against numpy, through the bilinear identities: for any K' and x',
    # <dK, K'> = sign <post, op(pre, K')>,  <dInputs, x'> = sign <post, op(x', K)>
    k2 = rng.normal(size=k.shape)
    np.testing.assert_allclose(np.sum(dk * k2),
                               sign * np.sum(post * np_op(kind, pre, k2, stride, padding)),
                               rtol=1e-4, atol=1e-3)
    x2 = rng.normal(size=pre.shape)
    np.testing.assert_allclose(np.sum(dx * x2),
                               sign * np.sum(post * np_op(kind, x2, k, stride, padding)),
                               rtol=1e-4, atol=1e-3)
    if kind == "HebbianConvSynapse":   # the correlation of pre with post, written out
        np.testing.assert_allclose(dk, sign * np_conv_dk(pre, post, kshape, stride, padding),
                                   rtol=1e-4, atol=1e-4)


def test_sgd_step_with_bias_decay_and_clipping():
    eta, sign, decay, bound = 0.05, -1.0, 0.2, 0.6
    s = syn("HebbianConvSynapse", (3, 3, 2, 2), (5, 6), 2, "SAME", eta=eta, sign_value=sign,
            w_decay=decay, w_bound=bound, bias_init={"dist": "constant", "value": 0.0})
    s.set(biases=rng.normal(size=2))
    k, b = arr(s["weights"]), arr(s["biases"])
    pre = rng.normal(size=(2, 5, 6, 2))
    post = rng.normal(size=(2, *s.shapes["outputs"]))
    s.evolve(pre=pre, post=post)
    dk = sign * np_conv_dk(pre, post, (3, 3, 2, 2), 2, "SAME") + decay * k
    db = sign * post.sum(axis=(0, 1, 2))
    np.testing.assert_allclose(arr(s["dWeights"]), dk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(arr(s["dBiases"]), db, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(arr(s["weights"]), np.clip(k - eta * dk, -bound, bound),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(arr(s["biases"]), b - eta * db, rtol=1e-5, atol=1e-5)
    assert int(s["opt_count"]) == 1
    # the next advance uses the new kernel and bias
    x = rng.normal(size=(2, 5, 6, 2))
    s.advance(inputs=x)
    want = np_conv(x, arr(s["weights"]), 2, "SAME") + arr(s["biases"])
    np.testing.assert_allclose(arr(s["outputs"]), want, **TOL)


def test_nonnegative_clipping():
    s = syn("HebbianDeconvSynapse", (2, 2, 1, 1), (3, 3), 2, "SAME", eta=10.0, w_bound=0.5,
            is_nonnegative=True)
    s.evolve(pre=rng.normal(size=(2, 3, 3, 1)), post=rng.normal(size=(2, 6, 6, 1)))
    w = arr(s["weights"])
    assert w.min() >= 0.0 and w.max() <= 0.5 and np.any(w == 0.5) and np.any(w == 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_w_decay_shrinks_the_kernel_whatever_the_sign(sign):
    # ngc-learn subtracts w_decay K after the sign, so with sign_value -1 its decay grows K
    s = syn("HebbianConvSynapse", (3, 3, 1, 2), (4, 4), 1, "SAME", eta=0.1, w_decay=0.5,
            sign_value=sign)
    k = arr(s["weights"])
    s.evolve(pre=np.zeros((2, 4, 4, 1)), post=np.zeros((2, 4, 4, 2)))
    np.testing.assert_allclose(arr(s["weights"]), k * (1 - 0.1 * 0.5), rtol=1e-6)


@pytest.mark.slow
def test_one_by_one_conv_equals_hebbian_synapse_with_l2_prior():
    """A 1x1 kernel on a 1x1 image is a dense synapse: the update (sign -1, w_decay) must be
    HebbianSynapse's with prior [l2, w_decay] and no soft bound, step for step (adam)."""
    common = dict(eta=0.02, sign_value=-1.0, w_bound=0.0, optim_type="adam")
    w0 = rng.normal(size=(3, 2))
    conv = syn("HebbianConvSynapse", (1, 1, 3, 2), (1, 1), 1, "VALID", w_decay=0.3,
               bias_init={"dist": "constant", "value": 0.0}, **common)
    dense = Single("HebbianSynapse", batch_size=2, shape=[3, 2], prior=["l2", 0.3],
                   bias_init={"dist": "constant", "value": 0.0}, **common)
    conv.set(weights=w0.reshape(1, 1, 3, 2))
    dense.set(weights=w0)
    for _ in range(3):
        pre, post = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
        conv.evolve(pre=pre.reshape(2, 1, 1, 3), post=post.reshape(2, 1, 1, 2))
        dense.evolve(pre=pre, post=post)
        np.testing.assert_allclose(arr(conv["weights"]).reshape(3, 2), arr(dense["weights"]),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(arr(conv["biases"]), arr(dense["biases"]), rtol=1e-5,
                                   atol=1e-6)
    x = rng.normal(size=(2, 3))
    conv.advance(inputs=x.reshape(2, 1, 1, 3))
    dense.advance(inputs=x)
    np.testing.assert_allclose(arr(conv["outputs"]).reshape(2, 2), arr(dense["outputs"]),
                               **TOL)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["HebbianConvSynapse", "HebbianDeconvSynapse"])
def test_evolve_without_bias_keeps_zero_biases_and_the_next_advance_works(kind):
    # ngc-learn sets biases to None here and the next advance_state crashes
    s = syn(kind, (3, 3, 1, 2), (4, 4), 2, "SAME", eta=0.1)
    pre = rng.normal(size=(2, 4, 4, 1))
    post = rng.normal(size=(2, *s.shapes["outputs"]))
    s.evolve(pre=pre, post=post)
    np.testing.assert_array_equal(arr(s["biases"]), np.zeros(2))
    s.advance(inputs=pre)
    want = np_op(kind, pre, arr(s["weights"]), 2, "SAME")
    np.testing.assert_allclose(arr(s["outputs"]), want, **TOL)


# ---------------------------------------------------------------------------------------------
# Trace-STDP kinds

def _stdp_factors(s, x_shape, c_in, p_pre=0.2, p_post=0.2):
    shape_out = s.shapes["outputs"]
    return {"preSpike": (rng.random((2, *x_shape, c_in)) < p_pre).astype(float),
            "preTrace": rng.uniform(0, 1, (2, *x_shape, c_in)),
            "postSpike": (rng.random((2, *shape_out)) < p_post).astype(float),
            "postTrace": rng.uniform(0, 1, (2, *shape_out))}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["TraceSTDPConvSynapse", "TraceSTDPDeconvSynapse"])
@pytest.mark.parametrize("kshape,x_shape,stride,padding", HEBB_CASES, ids=HEBB_IDS)
def test_trace_stdp_kernel_update_is_ltp_minus_ltd(kind, kshape, x_shape, stride, padding):
    a_plus, a_minus, eta, x_tar, decay = 0.7, 0.3, 0.05, 0.2, 0.1
    s = syn(kind, kshape, x_shape, stride, padding, A_plus=a_plus, A_minus=a_minus, eta=eta,
            pretrace_target=x_tar, w_decay=decay)
    k = arr(s["weights"])
    f = _stdp_factors(s, x_shape, kshape[2])
    s.evolve(**f)
    dk, w, dx = arr(s["dWeights"]), arr(s["weights"]), arr(s["dInputs"])
    np.testing.assert_allclose(w, k + eta * dk - decay * k, rtol=1e-5, atol=1e-6)
    # <dK, K'> = <A+ s_post, op(x_pre - x_tar, K')> - <A- x_post, op(s_pre, K')> for any K'
    k2 = rng.normal(size=k.shape)
    want = (np.sum(a_plus * f["postSpike"] * np_op(kind, f["preTrace"] - x_tar, k2, stride,
                                                   padding))
            - np.sum(a_minus * f["postTrace"] * np_op(kind, f["preSpike"], k2, stride,
                                                      padding)))
    np.testing.assert_allclose(np.sum(dk * k2), want, rtol=1e-4, atol=1e-3)
    # dInputs = op^T(s_post): <dInputs, x'> = <s_post, op(x', K)>, with the old kernel
    x2 = rng.normal(size=dx.shape)
    np.testing.assert_allclose(np.sum(dx * x2),
                               np.sum(f["postSpike"] * np_op(kind, x2, k, stride, padding)),
                               rtol=1e-4, atol=1e-3)
    if kind == "TraceSTDPConvSynapse":   # the correlations, written out
        ltp = np_conv_dk(f["preTrace"] - x_tar, a_plus * f["postSpike"], kshape, stride,
                         padding)
        ltd = np_conv_dk(f["preSpike"], a_minus * f["postTrace"], kshape, stride, padding)
        np.testing.assert_allclose(dk, ltp - ltd, rtol=1e-4, atol=1e-4)


def test_trace_stdp_conv_pairing_potentiates_the_tap_that_connects_the_pixels():
    # 3x3 kernel, SAME, stride 1: output pixel (1, 3) sees input pixel (2, 2) through tap
    # (2 - 1 + 1, 2 - 3 + 1) = (2, 0). A pre trace of 0.6 left there when the post neuron
    # fires potentiates that tap alone, by eta A_plus 0.6.
    s = syn("TraceSTDPConvSynapse", (3, 3, 1, 1), (5, 5), 1, "SAME", A_plus=0.5, A_minus=0.2,
            eta=0.1, batch_size=1, filter_init={"dist": "constant", "value": 0.3})
    pre_trace = np.zeros((1, 5, 5, 1))
    pre_trace[0, 2, 2, 0] = 0.6
    post = np.zeros((1, 5, 5, 1))
    post[0, 1, 3, 0] = 1.0
    s.evolve(preSpike=np.zeros((1, 5, 5, 1)), preTrace=pre_trace, postSpike=post,
             postTrace=np.zeros((1, 5, 5, 1)))
    want = np.full((3, 3), 0.3)
    want[2, 0] += 0.1 * 0.5 * 0.6
    np.testing.assert_allclose(arr(s["weights"])[:, :, 0, 0], want, rtol=1e-6)
    # the reverse order: a post trace of 0.4 at (1, 3) when the input pixel spikes depresses
    # the same tap by eta A_minus 0.4
    pre = np.zeros((1, 5, 5, 1))
    pre[0, 2, 2, 0] = 1.0
    post_trace = np.zeros((1, 5, 5, 1))
    post_trace[0, 1, 3, 0] = 0.4
    s.evolve(preSpike=pre, preTrace=np.zeros((1, 5, 5, 1)), postSpike=np.zeros((1, 5, 5, 1)),
             postTrace=post_trace)
    want[2, 0] -= 0.1 * 0.2 * 0.4
    np.testing.assert_allclose(arr(s["weights"])[:, :, 0, 0], want, rtol=1e-6)


def test_trace_stdp_conv_clips_to_the_reference_bounds():
    s = syn("TraceSTDPDeconvSynapse", (2, 2, 1, 2), (3, 3), 2, "SAME", A_plus=1.0, A_minus=1.0,
            eta=50.0, w_bound=0.5)
    s.evolve(**_stdp_factors(s, (3, 3), 1, 0.5, 0.5))
    w = arr(s["weights"])
    assert w.min() >= 0.01 - 1e-7 and w.max() <= 0.49 + 1e-7
    assert np.isclose(w, 0.01).any() and np.isclose(w, 0.49).any()


@pytest.mark.slow
def test_one_by_one_trace_stdp_conv_is_trace_stdp_summed_over_pixels():
    common = dict(A_plus=0.4, A_minus=0.25, pretrace_target=0.1)
    conv = syn("TraceSTDPConvSynapse", (1, 1, 3, 2), (2, 2), 1, "VALID", eta=1.0, **common)
    dense = Single("TraceSTDPSynapse", batch_size=8, shape=[3, 2], **common)
    f = {"preSpike": (rng.random((2, 2, 2, 3)) < 0.5).astype(float),
         "preTrace": rng.uniform(0, 1, (2, 2, 2, 3)),
         "postSpike": (rng.random((2, 2, 2, 2)) < 0.5).astype(float),
         "postTrace": rng.uniform(0, 1, (2, 2, 2, 2))}
    conv.evolve(**f)
    dense.evolve(**{k: v.reshape(8, -1) for k, v in f.items()})   # pixels as samples
    np.testing.assert_allclose(arr(conv["dWeights"]).reshape(3, 2), arr(dense["dWeights"]),
                               rtol=1e-5, atol=1e-6)


def test_conv_pairing_example_lays_the_stdp_window_on_the_kernel():
    # circuits/conv_stdp_pairing.yaml: tap (a, c) sees the pairing of output pixel
    # (2 + 1 - a, 2 + 1 - c) with input pixel (2, 2), at that pixel's lag
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "conv_stimuli", ROOT / "circuits" / "data" / "conv_stdp_pairing_stimuli.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pre, post = mod.pairing_images()
    np.testing.assert_array_equal(np.load(ROOT / "circuits/data/conv_stdp_pairing_pre.npy"), pre)
    np.testing.assert_array_equal(np.load(ROOT / "circuits/data/conv_stdp_pairing_post.npy"), post)

    lags = np.array(mod.LAGS, float)[::-1, ::-1]            # tap (a, c) <- LAGS[2 - a][2 - c]
    decay = np.exp(-np.abs(lags) / 10.0)
    want = 0.5 + np.where(lags > 0, 0.01 * decay, np.where(lags < 0, -0.012 * decay, -0.002))
    rec = ngcspec.load(ROOT / "circuits" / "conv_stdp_pairing.yaml").run().records
    for name in ("K_conv", "K_deconv"):
        np.testing.assert_allclose(rec[f"run/{name}.weights"][..., 0, 0], want, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Validation through ngcspec.load

def circuit(**params) -> str:
    entry = {"kind": "ConvSynapse", "shape": [3, 3, 1, 2], "x_shape": [8, 8], **params}
    entry = "{" + ", ".join(f"{k}: {v}" for k, v in entry.items() if v is not ...) + "}"
    return f"""
ngcspec: 1
name: conv
components:
  c: {entry}
schedule: [reset, advance]
"""


@pytest.mark.parametrize("params,where,words", [
    (dict(), "padding", "required"),
    (dict(padding="null"), "padding", "SAME"),
    (dict(padding="FULL"), "padding", "VALID"),
    (dict(padding="VALID", x_shape=[2, 8]), "shape", "does not fit"),
    (dict(padding="SAME", stride=0), "stride", ""),
    (dict(padding="SAME", shape=[3, 3, 1]), "shape", ""),
    (dict(padding="SAME", kind="TraceSTDPConvSynapse", A_plus=1, A_minus=1,
          bias_init="{dist: constant, value: 0.0}"), "bias_init", "no bias"),
    (dict(padding="SAME", kind="TraceSTDPDeconvSynapse", A_plus=1, A_minus=1, w_bound=0.02),
     "w_bound", "no room"),
    (dict(padding="SAME", kind="TraceSTDPConvSynapse", A_plus=1), "A_minus", "required"),
])
def test_validation_errors(params, where, words):
    with pytest.raises(ngcspec.CircuitError) as exc:
        ngcspec.load(circuit(**params))
    problems = exc.value.problems
    assert any(where in p.path and words in p.message for p in problems), \
        [p.text() for p in problems]


def test_lowercase_padding_and_scalar_sizes_are_accepted():
    c = ngcspec.load(circuit(padding="same", x_shape=8, stride=2))
    rc = c.resolved.components["c"]
    assert rc.params.padding == "SAME"
    assert rc.shapes["outputs"] == (4, 4, 2) and rc.shapes["biases"] == (2,)


def test_wire_shapes_are_checked_against_the_conv_output():
    text = """
ngcspec: 1
name: conv
components:
  c: {kind: ConvSynapse, shape: [3, 3, 1, 2], x_shape: [8, 8], stride: 2, padding: SAME}
  e: {kind: GaussianErrorCell, n_units: 128, shape: [8, 8, 2]}
wires: [c.outputs -> e.mu]
schedule: [reset, advance]
"""
    with pytest.raises(ngcspec.CircuitError) as exc:
        ngcspec.load(text)
    assert "(batch, 4, 4, 2)" in str(exc.value)


# ---------------------------------------------------------------------------------------------
# The example circuit

@pytest.mark.slow
def test_examples_validate():
    proc = subprocess.run([NGC, "validate", str(EXAMPLE), str(DECONV_EXAMPLE)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("path,epochs,kernel", [
    (EXAMPLE, 4, (3, 3, 4, 1)),
    (DECONV_EXAMPLE, 3, (4, 4, 8, 1)),
], ids=["conv", "deconv"])
def test_example_reconstruction_error_falls(path, epochs, kernel):
    res = ngcspec.load(path).run(epochs=epochs)
    train = [m["recon_energy"] for m in res.metrics["train"]]
    assert len(train) == epochs and all(np.isfinite(train))
    # energies are -1/2 |e|^2 summed over a batch: they rise towards 0, by 5x at least
    assert all(b > a for a, b in zip(train, train[1:]))
    assert train[-1] > train[0] / 5
    # held-out digits (one batch of 360) reconstructed about as well as the training ones
    test = res.metrics["test"][-1]["recon_energy"]
    assert test / 360 > 3 * train[-1] / 64
    w1 = res.state["W1"]
    assert np.asarray(w1["weights"]).shape == kernel
    assert np.asarray(w1["biases"]).shape == (1,)
