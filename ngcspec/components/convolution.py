"""Convolutional synapses: NHWC images, HWIO kernels, optionally Hebbian-plastic.

Kinds: :class:`ConvSynapse` and :class:`StaticConvSynapse` (a strided 2-D convolution),
:class:`DeconvSynapse` and :class:`StaticDeconvSynapse` (a transposed, fractionally strided
convolution), :class:`HebbianConvSynapse` and :class:`HebbianDeconvSynapse` (the same with a
two-factor Hebbian kernel update), :class:`TraceSTDPConvSynapse` and
:class:`TraceSTDPDeconvSynapse` (trace-based STDP of the kernel). Reference section 3.11.

Layout. A sample is an image (H, W, C) (NHWC with the batch axis in front); the kernel
``weights`` is (k_h, k_w, C_in, C_out) (HWIO); the bias is one value per output channel,
(C_out,), added at every pixel. ``x_shape`` is the input image's (H, W) (non-square images
and kernels are allowed), ``stride`` one int or [s_h, s_w], ``padding`` SAME or VALID.

The forward operators, for one spatial axis of size H, kernel size k and stride s:

- conv:   y = lax.conv_general_dilated(x, K, stride, padding): a cross-correlation (no
  kernel flip), y[i] = sum_a x_pad[i s + a] K[a]. Output size SAME ceil(H / s), with
  max((ceil(H/s) - 1) s + k - H, 0) zeros of padding, the odd one at the high end; VALID
  floor((H - k) / s) + 1.
- deconv: y = lax.conv_transpose(x, K, stride, padding) (transpose_kernel false): the input
  dilated by the stride and correlated with K, i.e. every input pixel i paints the
  spatially flipped kernel at i s - pad. Output size SAME H s; VALID (H - 1) s + k, or H s
  when s > k.

Both are linear in x and in K. Back-transmission: every kind has a transpose path
``post_in -> pre_out``, pre_out = op^T(post_in) = d/dx sum(post_in * op(x, K)), the adjoint of
the forward operator (for a conv, a transposed conv with the flipped kernel; the shapes come
back to the input's exactly, whatever the stride and padding). A convolutional predictive-
coding layer carries its errors back through it, as the patched synapse does. The Hebbian
kinds also keep ngc-learn's ``dInputs`` = sign_value * op^T(post), written by evolve.

The Hebbian and STDP kernel updates are vector-Jacobian products of the forward operator,
dK = d/dK sum(post * op(pre, K)), computed with ``jax.vjp`` (no hand-written index arithmetic).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, PositiveInt, field_validator

from ngcspec.components import initializers, optimizers
from ngcspec.components.initializers import UniformInit, WeightInit
from ngcspec.components.synapses import _schema_lists_alias, optimizer_step
from ngcspec.lazy import jax, jnp, lax, random
from ngcspec.registry import (Component, ComponentParams, In, Out, State, Weight, register)

FAMILY = "synapses"
DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")

# Per-sample shapes of the compartments, by the symbolic shape they are declared with
# (the declared strings are what `ngc components` shows; shapes() turns them into sizes).
X = "H, W, C_in"
Y = "H_out, W_out, C_out"
KERNEL = "k_h, k_w, C_in, C_out"
CHANNELS = "C_out"

Pair = PositiveInt | tuple[PositiveInt, PositiveInt]


def pair(v) -> tuple[int, int]:
    """(a, b) from an int a (meaning (a, a)) or a pair."""
    if isinstance(v, int):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def conv_out_size(n: int, k: int, s: int, padding: str) -> int:
    """Output size of a strided correlation along one axis (lax conventions)."""
    if padding == "SAME":
        return -(-n // s)
    return (n - k) // s + 1


def deconv_out_size(n: int, k: int, s: int, padding: str) -> int:
    """Output size of lax.conv_transpose along one axis."""
    if padding == "SAME":
        return n * s
    return n * s + max(k - s, 0)


def _default_filter_init():
    return UniformInit(dist="uniform", low=0.025, high=0.8)


class ConvParams(ComponentParams):
    model_config = ConfigDict(json_schema_extra=_schema_lists_alias)

    shape: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = Field(
        description="kernel shape [k_h, k_w, C_in, C_out] (HWIO): kernel height and width, "
                    "input channels, output channels")
    x_shape: Pair = Field(
        description="[H, W] of the input image (one int for a square image); the input "
                    "compartments are (B, H, W, C_in)")
    stride: Pair = Field(1, description="stride, one int or [s_h, s_w]")
    padding: Literal["SAME", "VALID"] = Field(
        description="SAME (output ceil(H / s) for a conv, H s for a deconv) or VALID (no "
                    "padding: floor((H - k) / s) + 1 for a conv, (H - 1) s + k for a deconv); "
                    "required, case-insensitive",
        json_schema_extra={"enum": ["SAME", "VALID", "same", "valid"]})
    filter_init: WeightInit = Field(
        default_factory=_default_filter_init,
        description="initialiser of the kernel, drawn as a (k_h * k_w * C_in, C_out) matrix "
                    "(fan-in = k_h * k_w * C_in, columns = output channels) and reshaped "
                    "(default uniform on [0.025, 0.8))")
    bias_init: WeightInit | None = Field(
        None, description="initialiser of the per-channel biases (C_out,); null means no bias "
                          "(zeros, never learned)")
    resist_scale: float = Field(
        1.0, validation_alias=AliasChoices("resist_scale", "g_conduct_factor"),
        description="scale of the convolution, out = op(in, K) * resist_scale + b; ngc-learn "
                    "3.x's name g_conduct_factor is accepted as an alias")

    @field_validator("padding", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class HebbianConvParams(ConvParams):
    eta: float = Field(0.0, description="learning rate of the optimizer")
    w_bound: float = Field(
        0.0, description="when > 0, the kernel is clipped to [-w_bound, w_bound] ([0, w_bound] "
                         "if is_nonnegative) after each update; 0 turns clipping off (no soft "
                         "bound, as in ngc-learn's conv synapses)")
    is_nonnegative: bool = Field(
        False, description="clip to [0, w_bound] instead of [-w_bound, w_bound] (no effect "
                           "when w_bound = 0)")
    w_decay: float = Field(
        0.0, ge=0.0, description="L2 decay of the kernel: w_decay * K is added to the update "
                                 "the optimizer subtracts, so the kernel shrinks whatever "
                                 "sign_value is (biases do not decay)")
    sign_value: float = Field(
        1.0, description="multiplies the Hebbian terms before the optimizer subtracts them; "
                         "-1 turns them into ascent on sum(post * op(pre, K)), i.e. descent "
                         "on a predictive-coding energy")
    optim_type: optimizers.Name = Field(
        "sgd", description=f"optimizer: {' or '.join(optimizers.NAMES)}")


# ---------------------------------------------------------------------------------------------
# Geometry (plain Python: validation knows every shape without JAX)

class _ConvBase(Component):
    family = FAMILY
    Params = ConvParams
    transposed: bool = False   # deconv kinds: lax.conv_transpose instead of a correlation

    compartments = {
        "inputs": In(X, "pre-synaptic image, (B, H, W, C_in)"),
        "outputs": Out(Y, "op(inputs, K) * resist_scale + b, (B, H_out, W_out, C_out)"),
        "post_in": In(Y, "signal sent back through the adjoint of the operator, "
                         "(B, H_out, W_out, C_out)"),
        "pre_out": Out(X, "op^T(post_in) = d/dx sum(post_in * op(x, K)), (B, H, W, C_in)"),
        "weights": Weight(KERNEL, "kernel K, (k_h, k_w, C_in, C_out) (HWIO)"),
        "biases": Weight(CHANNELS, "bias b, one per output channel (C_out,); zeros when "
                                   "bias_init is null"),
    }

    @classmethod
    def geometry(cls, p) -> dict[str, tuple[int, ...]]:
        """Per-sample shapes of the input image, output image, kernel and bias."""
        kh, kw, c_in, c_out = (int(v) for v in p.shape)
        (h, w), (sh, sw) = pair(p.x_shape), pair(p.stride)
        size = deconv_out_size if cls.transposed else conv_out_size
        out = (size(h, kh, sh, p.padding), size(w, kw, sw, p.padding))
        return {X: (h, w, c_in), Y: (*out, c_out), KERNEL: (kh, kw, c_in, c_out),
                CHANNELS: (c_out,), "": ()}

    @classmethod
    def shapes(cls, p) -> dict[str, tuple[int, ...]]:
        g = cls.geometry(p)
        return {name: g[c.shape] for name, c in cls.compartments.items()}

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        kh, kw, c_in, c_out = (int(v) for v in p.shape)
        h, w = pair(p.x_shape)
        out = []
        if not cls.transposed and p.padding == "VALID" and (kh > h or kw > w):
            out.append(("shape", f"a {kh}x{kw} kernel does not fit the {h}x{w} input image "
                                 f"with padding VALID (the output would be empty); use a "
                                 f"kernel of at most {h}x{w}, a larger x_shape or padding SAME"))
        out += [("filter_init", msg) for msg in
                initializers.problems(p.filter_init, (kh * kw * c_in, c_out))]
        if p.bias_init is not None:
            out += [("bias_init", msg) for msg in initializers.problems(p.bias_init, (c_out,))]
        return out

    # -- the operator ----------------------------------------------------------------------
    @classmethod
    def op(cls, p, x, k):
        """The forward operator op(x, K), without resist_scale or bias."""
        strides = pair(p.stride)
        if cls.transposed:
            return lax.conv_transpose(x, k, strides, p.padding,
                                      dimension_numbers=DIMENSION_NUMBERS)
        return lax.conv_general_dilated(x, k, strides, p.padding,
                                        dimension_numbers=DIMENSION_NUMBERS)

    @classmethod
    def adjoint(cls, p, k, y, x_like):
        """op^T(y) = d/dx sum(y * op(x, K)): the transpose of the (linear) operator in x."""
        transpose = jax.linear_transpose(lambda x: cls.op(p, x, k), x_like)
        return transpose(y)[0]

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        kh, kw, c_in, c_out = (int(v) for v in p.shape)
        k_w, k_b = random.split(key)
        weights = initializers.draw(p.filter_init, (kh * kw * c_in, c_out), k_w, dtype)
        weights = weights.reshape(kh, kw, c_in, c_out)
        if p.bias_init is None:
            biases = jnp.zeros((c_out,), dtype)
        else:
            biases = initializers.draw(p.bias_init, (c_out,), k_b, dtype)
        return {"weights": weights, "biases": biases}

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        k = s["weights"]
        out = cls.op(p, s["inputs"], k) * p.resist_scale + s["biases"]
        post_in = s["post_in"]
        # Skipped (zeros, which is what it would compute) while nothing is sent back.
        pre_out = lax.cond(jnp.any(post_in != 0),
                           lambda: cls.adjoint(p, k, post_in, s["pre_out"]),
                           lambda: jnp.zeros_like(s["pre_out"]))
        return {"outputs": out.astype(s["outputs"].dtype), "pre_out": pre_out}


_CONV_DEVIATIONS = """
    Deviations from ngc-learn:

    - Images may be non-square (``x_shape: [H, W]``) and kernels non-square
      (``shape: [k_h, k_w, C_in, C_out]``), and ``stride`` may differ per axis; ngc-learn
      uses x_shape[1] for both sides and assumes square kernels.
    - ``padding`` is required and must be SAME or VALID (case-insensitive); ngc-learn's
      default None crashes. A kernel larger than the image with VALID padding is a
      validation error, not an empty output.
    - ``biases`` has one value per output channel, (C_out,), added at every pixel
      (ngc-learn draws a (1, shape[1]) = (1, k) bias); zeros when ``bias_init`` is null.
    - Compartment shapes are computed from the parameters in plain Python (validation knows
      them without JAX), not from a probe convolution.
    - The kernel is drawn as a (k_h k_w C_in, C_out) matrix and reshaped, so the fan-in of
      fan_in_gaussian / fan_in_uniform is k_h k_w C_in and col_mask selects output channels
      (ngc-learn's draw on the 4-D shape takes the kernel height as the fan-in).
    - The transpose path ``post_in -> pre_out`` (the adjoint of the operator) is an ngcspec
      addition, modelled on the patched synapse; it is computed only when post_in has a
      non-zero entry (zeros otherwise, which is what it would compute).
    - ``batch_size`` is not a parameter; reset zeroes the synapse's own inputs and never
      writes into the wired sources (ngc-learn's reset zeroes ``inputs`` unconditionally,
      writing through to the source).
"""


@register
class ConvSynapse(_ConvBase):
    __doc__ = """A convolutional synaptic cable without plasticity.

        outputs = conv(inputs, K) * resist_scale + b        pre_out = conv^T(post_in)

    conv is lax.conv_general_dilated (a strided cross-correlation, NHWC/HWIO); conv^T is its
    adjoint in the input, d/dx sum(post_in * conv(x, K)). Output size per axis: SAME
    ceil(H / s), VALID floor((H - k) / s) + 1.

    Compartments: inputs, pre_out (B, H, W, C_in); outputs, post_in (B, H_out, W_out,
    C_out); persistent weights (k_h, k_w, C_in, C_out) and biases (C_out,).
    """ + _CONV_DEVIATIONS


@register
class StaticConvSynapse(_ConvBase):
    __doc__ = """A convolutional synaptic cable with fixed kernels (ConvSynapse under another name).

        outputs = conv(inputs, K) * resist_scale + b        pre_out = conv^T(post_in)

    Compartments as ConvSynapse.
    """ + _CONV_DEVIATIONS


class _DeconvBase(_ConvBase):
    transposed = True


@register
class DeconvSynapse(_DeconvBase):
    __doc__ = """A deconvolutional (transposed convolutional) synaptic cable without plasticity.

        outputs = deconv(inputs, K) * resist_scale + b      pre_out = deconv^T(post_in)

    deconv is lax.conv_transpose without kernel transposition (NHWC/HWIO, K is
    (k_h, k_w, C_in, C_out) with C_in the channels of ``inputs``): the input dilated by the
    stride, padded and correlated with K. deconv^T is its adjoint in the input (a strided
    correlation). Output size per axis: SAME H s, VALID (H - 1) s + k (H s when s > k).

    Compartments: inputs, pre_out (B, H, W, C_in); outputs, post_in (B, H_out, W_out,
    C_out); persistent weights (k_h, k_w, C_in, C_out) and biases (C_out,).
    """ + _CONV_DEVIATIONS


@register
class StaticDeconvSynapse(_DeconvBase):
    __doc__ = """A deconvolutional synaptic cable with fixed kernels (DeconvSynapse renamed).

        outputs = deconv(inputs, K) * resist_scale + b      pre_out = deconv^T(post_in)

    Compartments as DeconvSynapse.
    """ + _CONV_DEVIATIONS


# ---------------------------------------------------------------------------------------------
# Hebbian kinds

_HEBBIAN_COMPARTMENTS = {
    "pre": In(X, "pre-synaptic factor of the Hebbian update, (B, H, W, C_in)",
              evolve_only=True),
    "post": In(Y, "post-synaptic factor of the Hebbian update, (B, H_out, W_out, C_out)",
               evolve_only=True),
    "dInputs": Out(X, "back-transmitted signal sign_value * op^T(post), written by evolve "
                      "(with the kernel before the update), (B, H, W, C_in)"),
    "dWeights": State(KERNEL, "last kernel update dK (before eta)", batched=False),
    "dBiases": State(CHANNELS, "last bias update dB (before eta)", batched=False),
    **optimizers.compartments({"W": (KERNEL, "K"), "b": (CHANNELS, "b")}),
}


class _HebbianConvBase(_ConvBase):
    Params = HebbianConvParams
    plastic = True
    compartments = {**_ConvBase.compartments, **_HEBBIAN_COMPARTMENTS}

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        out = super().init(p, key, dtype)
        shapes = {"W": out["weights"].shape, "b": out["biases"].shape}
        return {**out, **optimizers.initial_state(shapes, dtype)}

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        k = s["weights"]
        # The Hebbian terms are the vector-Jacobian product of the forward operator at
        # (pre, K) with cotangent post: d/dpre and d/dK of sum(post * op(pre, K)).
        _, vjp = jax.vjp(lambda x, kk: cls.op(p, x, kk), s["pre"], k)
        d_x, hebb = vjp(s["post"].astype(k.dtype))
        d_k = hebb * p.sign_value + p.w_decay * k
        d_b = jnp.sum(s["post"], axis=(0, 1, 2)) * p.sign_value

        out = optimizer_step(p, s, k, d_k, d_b)
        out["dInputs"] = d_x * p.sign_value
        return out


_HEBBIAN_EQUATIONS = """
    evolve (once per call, dt unused), with op the forward operator:

        H  = d/dK sum(post * op(pre, K))        the VJP of op in K (jax.vjp), summed over
                                                the batch: the correlation of pre with post
        dK = H * sign_value + w_decay * K
        dB = sum_{batch, pixels}(post) * sign_value
        K, b <- optimizer step subtracting eta * step(dK, dB)      (b only with a bias_init)
        K <- clip(K, 0 or -w_bound, w_bound)                       if w_bound > 0
        dInputs = sign_value * op^T(post)       (d/dpre of the same sum, old K)

    With sgd and sign_value = -1, K <- K + eta (H - w_decay K): gradient descent on the
    energy 1/2 |target - op(pre, K)|^2 when post is the error target - op(pre, K).
    resist_scale is not part of op here (as in ngc-learn).
"""

_HEBBIAN_DEVIATIONS = _CONV_DEVIATIONS + """\
    - The kernel update is computed as the vector-Jacobian product of the forward operator
      (jax.vjp); ngc-learn builds it by hand (rot180, custom padding), which gives the same
      numbers.
    - ``w_decay`` always shrinks the kernel: w_decay * K is added to the update that the
      optimizer subtracts, whatever sign_value is (the same as HebbianSynapse's l2 prior at
      sign_value -1). ngc-learn subtracts it after the sign, so with sign_value -1 its decay
      makes the weights grow.
    - Without a bias the biases stay zeros (ngc-learn's evolve sets them to None and the next
      advance crashes); with one, dB sums post over the batch and the pixels, one value per
      output channel.
    - dInputs (ngc-learn's ``backtransmit``) is written by evolve; for a signal at every
      step use the transpose path post_in -> pre_out.
    - The optimizer state lives in persistent compartments (kept across reset, saved with
      the weights); ``eta``, ``w_bound``, ``w_decay`` and ``sign_value`` are traced (a new
      value does not recompile).
"""


@register
class HebbianConvSynapse(_HebbianConvBase):
    __doc__ = """A convolutional synaptic cable with a two-factor Hebbian kernel update.

    advance:  outputs = conv(inputs, K) * resist_scale + b,   pre_out = conv^T(post_in)
    """ + _HEBBIAN_EQUATIONS + """
    Compartments: those of ConvSynapse; pre (B, H, W, C_in) and post (B, H_out, W_out,
    C_out), evolve-only inputs; dInputs (B, H, W, C_in); dWeights (k_h, k_w, C_in, C_out)
    and dBiases (C_out,), the last update (zeroed by reset); persistent optimizer state
    opt_count, opt_mW, opt_vW (kernel), opt_mb, opt_vb (C_out,).
    """ + _HEBBIAN_DEVIATIONS


@register
class HebbianDeconvSynapse(_HebbianConvBase):
    __doc__ = """A deconvolutional synaptic cable with a two-factor Hebbian kernel update.

    advance:  outputs = deconv(inputs, K) * resist_scale + b, pre_out = deconv^T(post_in)
    """ + _HEBBIAN_EQUATIONS + """
    Compartments: those of DeconvSynapse; pre (B, H, W, C_in) and post (B, H_out, W_out,
    C_out), evolve-only inputs; dInputs (B, H, W, C_in); dWeights (k_h, k_w, C_in, C_out)
    and dBiases (C_out,), the last update (zeroed by reset); persistent optimizer state
    opt_count, opt_mW, opt_vW (kernel), opt_mb, opt_vb (C_out,).
    """ + _HEBBIAN_DEVIATIONS

    transposed = True


# ---------------------------------------------------------------------------------------------
# Trace-STDP kinds

#: The trace-STDP kernels are kept within [STDP_W_EPS, w_bound - STDP_W_EPS] (as ngc-learn).
STDP_W_EPS = 0.01


class TraceSTDPConvParams(ConvParams):
    A_plus: float = Field(..., description="strength of long-term potentiation (LTP)")
    A_minus: float = Field(..., description="strength of long-term depression (LTD), used "
                                            "as given (a negative value potentiates)")
    eta: float = Field(0.0, description="global learning rate; the default 0 (as in "
                                        "ngc-learn) learns nothing: set it to learn")
    pretrace_target: float = Field(0.0, description="x_tar, subtracted from the pre-synaptic "
                                                    "trace in LTP (higher: weaker kernels)")
    w_bound: float = Field(0.0, ge=0.0, description="when > 0, the kernel is clipped to "
                                                    "[0.01, w_bound - 0.01] after each update; "
                                                    "0 turns clipping off")
    w_decay: float = Field(0.0, description="weight decay: K -= w_decay * K per evolve")


_STDP_COMPARTMENTS = {
    "preSpike": In(X, "pre-synaptic spikes s_pre, (B, H, W, C_in)", evolve_only=True),
    "preTrace": In(X, "pre-synaptic trace x_pre, (B, H, W, C_in)", evolve_only=True),
    "postSpike": In(Y, "post-synaptic spikes s_post, (B, H_out, W_out, C_out)",
                    evolve_only=True),
    "postTrace": In(Y, "post-synaptic trace x_post, (B, H_out, W_out, C_out)",
                    evolve_only=True),
    "dInputs": Out(X, "back-transmitted pulse op^T(postSpike), written by evolve (with the "
                      "kernel before the update), (B, H, W, C_in)"),
    "dWeights": State(KERNEL, "last kernel update dK (before eta)", batched=False),
}


class _TraceSTDPConvBase(_ConvBase):
    Params = TraceSTDPConvParams
    plastic = True
    compartments = {**_ConvBase.compartments, **_STDP_COMPARTMENTS}

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        out = super().check(p)
        if p.bias_init is not None:
            out.append(("bias_init", "trace-STDP convolutional synapses have no bias (as in "
                                     "ngc-learn); remove bias_init"))
        if 0.0 < p.w_bound <= 2 * STDP_W_EPS:
            out.append(("w_bound", f"w_bound {p.w_bound} leaves no room between the clip "
                                   f"bounds {STDP_W_EPS} and w_bound - {STDP_W_EPS}; use a "
                                   f"value above {2 * STDP_W_EPS}, or 0 for no clipping"))
        return out

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        k = s["weights"]
        # LTP - LTD in one VJP of the operator in K: the two (pre, post) pairs stacked along
        # the batch, which the VJP sums over, LTD's post factor negated.
        pre = jnp.concatenate([s["preTrace"] - p.pretrace_target, s["preSpike"]]).astype(k.dtype)
        post = jnp.concatenate([s["postSpike"] * p.A_plus, -s["postTrace"] * p.A_minus])
        _, vjp = jax.vjp(lambda kk: cls.op(p, pre, kk), k)
        (dk,) = vjp(post.astype(k.dtype))
        w = k + p.eta * dk - p.w_decay * k
        w = jnp.where(p.w_bound > 0, jnp.clip(w, STDP_W_EPS, p.w_bound - STDP_W_EPS), w)
        d_x = cls.adjoint(p, k, s["postSpike"].astype(k.dtype), s["dInputs"])
        return {"weights": w, "dWeights": dk, "dInputs": d_x}


_STDP_EQUATIONS = """
    evolve (once per call, dt unused), with op the forward operator and V_K(pre, post) =
    d/dK sum(post * op(pre, K)) its vector-Jacobian product in K (jax.vjp), summed over the
    batch (the correlation of pre with post):

        dK = V_K(x_pre - x_tar, A_plus s_post) - V_K(s_pre, A_minus x_post)
        K <- K + eta dK - w_decay K
        K <- clip(K, 0.01, w_bound - 0.01)                         if w_bound > 0
        dInputs = op^T(s_post)                  (d/dpre of sum(s_post * op(pre, K)), old K)

    A pre-synaptic spike at an input pixel followed by a post-synaptic spike at an output
    pixel that sees it through kernel tap (a, c) potentiates that tap by eta A_plus times
    the pre trace left at the post spike; the reverse order depresses it by eta A_minus
    times the post trace: the trace-STDP window of TraceSTDPSynapse, shared by every
    position of the image. A 1x1 kernel is TraceSTDPSynapse's dW summed over the pixels.
    No bias (biases stay zeros).
"""

_STDP_DEVIATIONS = _CONV_DEVIATIONS + """\
    - The kernel update is the vector-Jacobian product of the forward operator (jax.vjp);
      ngc-learn builds it by hand (rot180, custom padding).
    - dInputs (ngc-learn's ``backtransmit``) is written by evolve, with the kernel before
      the update.
    - Reset zeroes only the synapse's own compartments (dWeights, dInputs, outputs);
      ngc-learn's reset also zeroes the wired preSpike/preTrace/postSpike/postTrace.
    - ``eta`` is a traced parameter (ngc-learn keeps a (1, 1) compartment), as are A_plus,
      A_minus, pretrace_target, w_bound and w_decay: a new value does not recompile.
    - A ``bias_init``, or a w_bound of at most 0.02 (an empty clip range), is a validation
      error.
"""


def _stdp_doc(title: str, op: str, base: str) -> str:
    """The docstring of a trace-STDP convolutional kind whose operator is ``op``."""
    return f"""{title}

    advance:  outputs = {op}(inputs, K) * resist_scale,   pre_out = {op}^T(post_in)
    """ + _STDP_EQUATIONS + f"""
    Compartments: those of {base} (biases stay zeros); evolve-only inputs preSpike,
    preTrace (B, H, W, C_in) and postSpike, postTrace (B, H_out, W_out, C_out); dInputs
    (B, H, W, C_in); dWeights (k_h, k_w, C_in, C_out), the last update (zeroed by reset).
    """ + _STDP_DEVIATIONS


@register
class TraceSTDPConvSynapse(_TraceSTDPConvBase):
    __doc__ = _stdp_doc("A convolutional synaptic cable whose kernel learns by trace-based "
                        "STDP.", "conv", "ConvSynapse")


@register
class TraceSTDPDeconvSynapse(_TraceSTDPConvBase):
    __doc__ = _stdp_doc("A deconvolutional synaptic cable whose kernel learns by trace-based "
                        "STDP.", "deconv", "DeconvSynapse")

    transposed = True


__all__ = ["ConvSynapse", "StaticConvSynapse", "DeconvSynapse", "StaticDeconvSynapse",
           "HebbianConvSynapse", "HebbianDeconvSynapse", "TraceSTDPConvSynapse",
           "TraceSTDPDeconvSynapse", "ConvParams", "HebbianConvParams", "TraceSTDPConvParams",
           "conv_out_size", "deconv_out_size"]
