"""Patched synapses: n small dense sub-models (patches) along the diagonal of one matrix.

Kinds: :class:`PatchedSynapse`, :class:`StaticPatchedSynapse` (the same, for fixed weights)
and :class:`HebbianPatchedSynapse` (the two-factor Hebbian update of
:class:`~ngcspec.components.synapses.HebbianSynapse`, restricted to the patches). Reference
section 3.10.

Geometry. With ``shape = [N_in, N_out]``, ``n = n_sub_models`` and ``stride_shape =
[s_i, s_j]``, each patch is d_i x d_j = N_in/n x N_out/n widened by the stride on both sides:
patch k connects inputs [k d_i - s_i, (k+1) d_i + s_i) to outputs [k d_j - s_j, (k+1) d_j + s_j),
clipped to the matrix. With stride 0 the matrix is block-diagonal; with a stride neighbouring
patches overlap, and an entry covered by several patches belongs to the last of them (as in
ngc-learn, where later patches overwrite earlier ones). The dense equivalent is exactly the
interior of ngc-learn's matrix: ngc-learn builds an (N_in + 2 s_i, N_out + 2 s_j) matrix whose
first and last s rows and columns are zero; ngcspec keeps the declared shape and drops that
structurally silent border.

Storage: ``weights`` holds the patches as blocks, (n, p_i, p_j) with p = d + 2 s; block k,
entry (a, b) is the weight from input k d_i - s_i + a to output k d_j - s_j + b. ``mask`` (same
shape) is 1 where an entry is owned by its block, inside the matrix, connected (p_conn) and
allowed by ``block_mask``; every other entry of ``weights`` is kept at 0. A step costs a
batched product over the patches (B n p_i p_j multiply-adds), not a dense product over a
mostly-zero N_in x N_out matrix. :func:`Patches.to_dense` / :func:`Patches.to_blocks` convert
between the two layouts (e.g. for files given with ``init: {weights: ...}``, which are in the
block layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from ngcspec.components import initializers, optimizers
from ngcspec.components.initializers import FanInGaussianInit, WeightInit
from ngcspec.components.synapses import DenseParams, HebbianParams, HebbianSynapse
from ngcspec.lazy import jax, jnp, lax, random
from ngcspec.registry import Component, In, Out, State, Weight, register

FAMILY = "synapses"

_BLOCK = ("n_sub_models, shape[0] // n_sub_models + 2 * stride_shape[0], "
          "shape[1] // n_sub_models + 2 * stride_shape[1]")


# ---------------------------------------------------------------------------------------------
# Geometry (pure numpy/Python; the jnp helpers are used inside steps)

@dataclass(frozen=True)
class Patches:
    """Where the blocks of a patched synapse sit in its dense (n_in, n_out) matrix."""

    n: int
    n_in: int
    n_out: int
    s_i: int = 0
    s_j: int = 0

    @classmethod
    def of(cls, p) -> "Patches":
        n_in, n_out = (int(v) for v in p.shape)
        s_i, s_j = (int(v) for v in p.stride_shape)
        return cls(int(p.n_sub_models), n_in, n_out, s_i, s_j)

    @property
    def d_i(self) -> int:
        return self.n_in // self.n

    @property
    def d_j(self) -> int:
        return self.n_out // self.n

    @property
    def block(self) -> tuple[int, int]:
        """(p_i, p_j): the shape of one block."""
        return self.d_i + 2 * self.s_i, self.d_j + 2 * self.s_j

    @property
    def blocks_shape(self) -> tuple[int, int, int]:
        return (self.n, *self.block)

    def owner(self) -> np.ndarray:
        """(n, p_i, p_j) booleans: the entries each block owns.

        An entry is owned by block k when it lies inside the matrix and no later block
        covers it. In padded coordinates (r, c) (inputs and outputs shifted by the stride),
        the blocks covering (r, c) form a contiguous range whose last member is
        min(r // d_i, c // d_j, n - 1).
        """
        p_i, p_j = self.block
        k = np.arange(self.n)[:, None, None]
        r = k * self.d_i + np.arange(p_i)[None, :, None]
        c = k * self.d_j + np.arange(p_j)[None, None, :]
        inside = ((r >= self.s_i) & (r < self.s_i + self.n_in)
                  & (c >= self.s_j) & (c < self.s_j + self.n_out))
        last = np.minimum(np.minimum(r // self.d_i, c // self.d_j), self.n - 1)
        return inside & (last == k)

    def _slices(self, k: int) -> tuple[slice, slice]:
        p_i, p_j = self.block
        return (slice(k * self.d_i, k * self.d_i + p_i), slice(k * self.d_j, k * self.d_j + p_j))

    def to_dense(self, blocks):
        """The (n_in, n_out) matrix the blocks stand for (entries a block does not own are
        ignored). Works on numpy arrays and, inside traced code, on JAX arrays."""
        owner = self.owner()
        padded_shape = (self.n_in + 2 * self.s_i, self.n_out + 2 * self.s_j)
        if isinstance(blocks, np.ndarray):
            blocks = blocks * owner
            padded = np.zeros(padded_shape, blocks.dtype)
            for k in range(self.n):
                padded[self._slices(k)] += blocks[k]
        else:
            blocks = blocks * owner
            padded = jnp.zeros(padded_shape, blocks.dtype)
            for k in range(self.n):
                padded = padded.at[self._slices(k)].add(blocks[k])
        return padded[self.s_i:self.s_i + self.n_in, self.s_j:self.s_j + self.n_out]

    def to_blocks(self, dense):
        """The blocks of an (n_in, n_out) matrix; entries outside the patches are dropped."""
        xp = np if isinstance(dense, np.ndarray) else jnp
        padded = xp.pad(dense, ((self.s_i, self.s_i), (self.s_j, self.s_j)))
        blocks = xp.stack([padded[self._slices(k)] for k in range(self.n)])
        return blocks * self.owner()

    def support(self) -> np.ndarray:
        """(n_in, n_out) booleans: the entries covered by some patch."""
        return self.to_dense(self.owner().astype(np.float64)) > 0

    # -- the products, block by block ---------------------------------------------------
    def forward(self, x, blocks):
        """x @ dense(blocks) for x of shape (B, n_in), computed patch by patch."""
        xw = _windows(x, self.n, self.d_i, self.s_i)
        y = _per_patch(xw, blocks, "nbp,npq->nbq")
        return _overlap_add(y, self.n, self.d_j, self.s_j, self.n_out)

    def backward(self, y, blocks):
        """y @ dense(blocks).T for y of shape (B, n_out), computed patch by patch."""
        yw = _windows(y, self.n, self.d_j, self.s_j)
        x = _per_patch(yw, blocks, "nbq,npq->nbp")
        return _overlap_add(x, self.n, self.d_i, self.s_i, self.n_in)

    def windows(self, x, axis: int):
        """The per-patch windows (B, n, p) of inputs (axis 0) or outputs (axis 1)."""
        if axis == 0:
            return _windows(x, self.n, self.d_i, self.s_i)
        return _windows(x, self.n, self.d_j, self.s_j)


def _per_patch(xw, blocks, spec: str):
    """One product per patch: (B, n, p) with (n, p, q) -> (B, n, q).

    The patch axis is moved first so that XLA sees a plain batched matrix product (on CPU
    this is about 1.5-2x faster than contracting with the batch axis first)."""
    out = jnp.einsum(spec, jnp.swapaxes(xw, 0, 1), blocks)
    return jnp.swapaxes(out, 0, 1)


def _windows(x, n: int, d: int, s: int):
    """(B, n*d) -> (B, n, d + 2s): window k holds x[k d - s : (k+1) d + s], zero outside."""
    batch = x.shape[0]
    if s == 0:
        return x.reshape(batch, n, d)
    p = d + 2 * s
    c = -(-p // d)                                  # chunks of d spanned by one window
    total = (n + c - 1) * d                         # >= n d + 2 s
    xp = jnp.pad(x, ((0, 0), (s, total - n * d - s))).reshape(batch, n + c - 1, d)
    w = jnp.concatenate([xp[:, m:m + n] for m in range(c)], axis=-1)   # (B, n, c d)
    return w[..., :p]


def _overlap_add(y, n: int, d: int, s: int, size: int):
    """(B, n, d + 2s) -> (B, size): window k added at [k d - s, (k+1) d + s), then clipped."""
    batch = y.shape[0]
    if s == 0:
        return y.reshape(batch, size)
    p = d + 2 * s
    c = -(-p // d)
    y = jnp.pad(y, ((0, 0), (0, 0), (0, c * d - p))).reshape(batch, n, c, d)
    out = sum(jnp.pad(y[:, :, m], ((0, 0), (m, c - 1 - m), (0, 0))) for m in range(c))
    return out.reshape(batch, (n + c - 1) * d)[:, s:s + size]


# ---------------------------------------------------------------------------------------------
# Parameters

def _default_patch_init():
    return FanInGaussianInit(dist="fan_in_gaussian")


class PatchedParams(DenseParams):
    weight_init: WeightInit = Field(
        default_factory=_default_patch_init,
        description="initialiser of each block, drawn separately for each of the n blocks of "
                    "shape (N_in/n + 2 s_i, N_out/n + 2 s_j) (default fan_in_gaussian, whose "
                    "fan-in is the block's row count)")
    n_sub_models: PositiveInt = Field(
        1, description="number of patches (dense sub-models) n; it must divide both sizes of "
                       "shape (1 is a plain dense synapse)")
    stride_shape: tuple[NonNegativeInt, NonNegativeInt] = Field(
        (0, 0), description="[s_i, s_j]: how far each patch extends into its neighbours on each "
                            "side, in inputs and outputs ([0, 0]: block-diagonal)")
    block_mask: tuple[tuple[float, ...], ...] | None = Field(
        None, description="optional 0/1 matrix of shape [N_in, N_out] (dense layout) that "
                          "further restricts the connections; null keeps every entry of "
                          "the patches")


class HebbianPatchedParams(PatchedParams, HebbianParams):
    """PatchedParams plus the plasticity parameters of HebbianSynapse (same names, defaults
    and meaning: eta, w_bound, is_nonnegative, prior, w_decay, sign_value, optim_type,
    pre_wght, post_wght)."""


# ---------------------------------------------------------------------------------------------
# Kinds

_PATCHED_DEVIATIONS = """
    Deviations from ngc-learn:

    - The weights are stored and multiplied as blocks (n, p_i, p_j): a step costs the
      patches, not a dense product over the mostly-zero matrix. ``Patches.to_dense`` gives
      the dense equivalent.
    - ``shape`` stays the declared [N_in, N_out]: ngc-learn enlarges the matrix (and the
      inputs and outputs it expects) to (N_in + 2 s_i, N_out + 2 s_j) when the stride is
      not zero, with zero border rows and columns; ngcspec keeps the interior, which is
      every entry that can be non-zero.
    - A shape not divisible by n_sub_models is a validation error naming n_sub_models
      (ngc-learn silently drops the remainder and changes the shape).
    - The support is structural (the ``mask`` compartment, from the geometry, p_conn and
      block_mask), not "the weights that are non-zero": ngc-learn's ``w_masks`` becomes the
      weights themselves when s_j != 0.
    - Each block gets its own draw of weight_init; ``p_conn`` is a persistent mask as in
      DenseSynapse; ``block_mask`` is applied from init on.
    - On CPU the transpose path (post_in -> pre_out) is computed only when post_in has a
      non-zero entry (zeros otherwise, which is what it would compute), so an unused path
      costs almost nothing; on GPU it always runs (a conditional costs more there).
    - ``batch_size`` is not a parameter; inputs are read-only views (reset never writes into
      the wired sources).
"""


def _patches(n: int) -> str:
    return f"{n} patch" if n == 1 else f"{n} patches"


class _PatchedBase(Component):
    family = FAMILY
    Params = PatchedParams
    compartments = {
        "inputs": In("shape[0]", "pre-synaptic signal, (B, N_in)"),
        "outputs": Out("shape[1]", "(inputs @ W) * resist_scale + b, (B, N_out)"),
        "post_in": In("shape[1]", "signal sent back through the transpose, (B, N_out)"),
        "pre_out": Out("shape[0]", "post_in @ W^T, (B, N_in)"),
        "weights": Weight(_BLOCK, "the patches as blocks (n, N_in/n + 2 s_i, N_out/n + 2 s_j); "
                                  "block k, entry (a, b) joins input k N_in/n - s_i + a to output "
                                  "k N_out/n - s_j + b; entries outside the mask are 0"),
        "biases": Weight("shape[1]", "bias b, (N_out,); zeros when bias_init is null"),
        "mask": Weight(_BLOCK, "support of the blocks: owned by the block, inside the matrix, "
                               "connected (p_conn) and allowed by block_mask"),
    }

    @classmethod
    def check(cls, p) -> list[tuple[str, str]]:
        n, (n_in, n_out) = p.n_sub_models, p.shape
        if n_in % n or n_out % n:
            return [("n_sub_models",
                     f"shape [{n_in}, {n_out}] cannot be split into {_patches(n)}: "
                     f"{n_in} % {n} = {n_in % n}, {n_out} % {n} = {n_out % n}; choose "
                     f"n_sub_models dividing both sizes of shape, or sizes that are multiples "
                     f"of {n}")]
        g = Patches.of(p)
        out = [("weight_init", msg) for msg in initializers.problems(p.weight_init, g.block)]
        if p.bias_init is not None:
            out += [("bias_init", msg) for msg in initializers.problems(p.bias_init, (n_out,))]
        if p.block_mask is not None:
            rows = len(p.block_mask)
            cols = {len(r) for r in p.block_mask}
            if rows != n_in or cols != {n_out}:
                out.append(("block_mask", f"block_mask must be a [{n_in}, {n_out}] matrix (the "
                                          f"dense layout of shape), got {rows} rows of "
                                          f"{sorted(cols)} columns"))
            elif any(v not in (0.0, 1.0) for r in p.block_mask for v in r):
                out.append(("block_mask", "block_mask entries must be 0 or 1"))
        return out

    @classmethod
    def masked(cls, p) -> bool:
        """Whether the mask can hold zeros, so that advance re-applies it."""
        return (tuple(p.stride_shape) != (0, 0) or p.p_conn < 1.0
                or p.block_mask is not None)

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        g = Patches.of(p)
        k_w, k_b, k_mask = random.split(key, 3)
        blocks = jax.vmap(lambda k: initializers.draw(p.weight_init, g.block, k, dtype))(
            random.split(k_w, g.n))
        mask = g.owner().astype(np.float64)
        if p.block_mask is not None:
            mask = mask * g.to_blocks(np.asarray(p.block_mask, np.float64))
        mask = jnp.asarray(mask, dtype)
        if p.p_conn < 1.0:
            mask = mask * random.bernoulli(k_mask, p.p_conn, g.blocks_shape).astype(dtype)
        if p.bias_init is None:
            biases = jnp.zeros((g.n_out,), dtype)
        else:
            biases = initializers.draw(p.bias_init, (g.n_out,), k_b, dtype)
        return {"weights": blocks * mask, "biases": biases, "mask": mask}

    @classmethod
    def dense(cls, p, s):
        """The dense (N_in, N_out) matrix equivalent to the state ``s`` (mask applied)."""
        return Patches.of(p).to_dense(s["weights"] * s["mask"])

    @classmethod
    def advance(cls, p, s, ctx) -> dict:
        g = Patches.of(p)
        w = s["weights"] * s["mask"] if cls.masked(p) else s["weights"]
        out = g.forward(s["inputs"], w) * p.resist_scale + s["biases"]
        post_in = s["post_in"]
        if jax.default_backend() == "cpu":
            # An idle transpose path (post_in unwired, all zeros) costs only the test. On
            # accelerators a conditional waits for its predicate, which costs more than the
            # product it would skip (bench_patched.py), so there it always runs.
            pre_out = lax.cond(jnp.any(post_in != 0), lambda: g.backward(post_in, w),
                               lambda: jnp.zeros_like(s["pre_out"]))
        else:
            pre_out = g.backward(post_in, w)
        return {"outputs": out, "pre_out": pre_out}


@register
class PatchedSynapse(_PatchedBase):
    __doc__ = """n dense sub-models (patches) along the diagonal of one synaptic matrix.

        outputs = (inputs @ W) * resist_scale + b        pre_out = post_in @ W^T

    where W (N_in, N_out) is zero outside the patches: patch k joins inputs
    [k d_i - s_i, (k+1) d_i + s_i) to outputs [k d_j - s_j, (k+1) d_j + s_j) (clipped), with
    d = N / n_sub_models and s = stride_shape; overlapping entries belong to the later
    patch. Computed block by block (see the module documentation for the storage).

    Compartments: inputs, pre_out (B, N_in); outputs, post_in (B, N_out); persistent
    weights and mask (n, d_i + 2 s_i, d_j + 2 s_j) and biases (N_out,).

    Feedback through W^T: wire the signal into post_in and read pre_out. A ``tie`` with
    ``transpose: true`` and ``normalize`` work on 2-D matrices, not on the block layout.
    """ + _PATCHED_DEVIATIONS


@register
class StaticPatchedSynapse(_PatchedBase):
    __doc__ = """A patched synapse with fixed weights (PatchedSynapse under another name).

        outputs = (inputs @ W) * resist_scale + b        pre_out = post_in @ W^T

    Compartments as PatchedSynapse.
    """ + _PATCHED_DEVIATIONS


class _BlockParams:
    """A patched synapse's parameters as HebbianSynapse.evolve reads them for one block.

    The biases are not block-structured (overlapping patches share output units), so the
    per-block update leaves them out and the patched synapse learns them itself."""

    bias_init = None

    def __init__(self, p: Any):
        self._p = p

    def __getattr__(self, name: str) -> Any:
        return getattr(self._p, name)


@register
class HebbianPatchedSynapse(_PatchedBase):
    __doc__ = """A patched synapse with the two-factor Hebbian plasticity of HebbianSynapse.

    advance as PatchedSynapse. evolve (dt unused) is HebbianSynapse's update restricted to
    the patches: with pre_k, post_k the windows of pre and post seen by patch k and M the
    mask, for each block

        H_k  = (pre_k * pre_wght)^T @ (post_k * post_wght)     summed over the batch
        H_k  = H_k * (w_bound - |W_k|)                         if w_bound > 0
        dW_k = (H_k + R(W_k)) * sign_value                     R: the prior, as HebbianSynapse
        W_k <- clip(optimizer step(W_k, dW_k)) * M_k           dWeights = dW_k * M_k

    and, with a bias_init, db = sum_batch(post * post_wght) * sign_value and b takes an
    optimizer step too. Because an entry of W belongs to exactly one block, this equals
    HebbianSynapse's update of the dense matrix with its mask set to the patches.
    The per-block step is HebbianSynapse.evolve itself, vmapped over the blocks.

    Compartments: those of PatchedSynapse; pre (B, N_in) and post (B, N_out), evolve-only
    inputs; dWeights (blocks) and dBiases (N_out,), the last update (zeroed by reset);
    persistent optimizer state opt_count, opt_mW, opt_vW (blocks), opt_mb, opt_vb (N_out,).
    """ + _PATCHED_DEVIATIONS + """\
    - Every entry of the patches keeps learning: ngc-learn multiplies the update by
      1[W != 0], so weights initialised to 0 never learn and a weight that reaches exactly
      0 is frozen for ever.
    - The optimizer state is kept and saved with the synapse; prior, w_decay, eta and the
      other Hebbian options behave as in HebbianSynapse (see there).
"""

    Params = HebbianPatchedParams
    plastic = True
    compartments = {
        **_PatchedBase.compartments,
        "pre": In("shape[0]", "pre-synaptic factor of the Hebbian product, (B, N_in)",
                  evolve_only=True),
        "post": In("shape[1]", "post-synaptic factor of the Hebbian product, (B, N_out)",
                   evolve_only=True),
        "dWeights": State(_BLOCK, "last weight update dW (before eta), as blocks",
                          batched=False),
        "dBiases": State("shape[1]", "last bias update dB (before eta)", batched=False),
        **optimizers.compartments({"W": (_BLOCK, "the blocks"), "b": ("shape[1]", "b")}),
    }

    @classmethod
    def init(cls, p, key, dtype) -> dict:
        out = super().init(p, key, dtype)
        g = Patches.of(p)
        return {**out, **optimizers.initial_state({"W": g.blocks_shape, "b": (g.n_out,)}, dtype)}

    @classmethod
    def evolve(cls, p, s, ctx) -> dict:
        g = Patches.of(p)
        mask = s["mask"]
        # the optimizer's per-block state is split with the blocks; the rest (the counter, the
        # biases and their state) is shared by every block (no bias learning per block)
        per_block = ["weights", "mask", *optimizers.per_parameter(p.optim_type, "W")]
        blocks = {**{c: s[c] for c in s if c.startswith("opt_")}, "biases": s["biases"],
                  "weights": s["weights"], "mask": mask,
                  "pre": g.windows(s["pre"], 0), "post": g.windows(s["post"], 1)}
        axes = {c: (0 if c in per_block else None) for c in blocks}
        axes.update(pre=1, post=1)
        q = _BlockParams(p)
        new = jax.vmap(lambda b: HebbianSynapse.evolve(q, b, ctx), in_axes=(axes,))(blocks)

        post = s["post"] * p.post_wght
        d_b = jnp.sum(post, axis=0) * p.sign_value
        out = {"weights": new["weights"], "dWeights": new["dWeights"] * mask, "dBiases": d_b,
               "opt_count": new["opt_count"][0],  # every block counted the same step
               **{c: new[c] for c in optimizers.per_parameter(p.optim_type, "W")}}
        if p.bias_init is not None:
            biases, state = optimizers.apply(p.optim_type, s, {"b": s["biases"]}, {"b": d_b},
                                             p.eta)
            out.update(state, biases=biases["b"])
        return out


__all__ = ["Patches", "PatchedSynapse", "StaticPatchedSynapse", "HebbianPatchedSynapse",
           "PatchedParams", "HebbianPatchedParams"]
