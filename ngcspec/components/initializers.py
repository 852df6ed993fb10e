"""Weight initialisers: a validated description of a random draw, and the draw itself.

A :data:`WeightInit` is a pydantic model chosen by its ``dist`` field, so a circuit file can
write ``weight_init: {dist: gaussian, std: 0.05}`` and get a located error for a misspelled
field. :func:`draw` turns it into an array for a given shape, key and dtype.

Distributions (``shape[0]`` is the number of rows, i.e. the pre-synaptic units of a synapse):

==================  =====================================  ==========================================
``dist``            parameters (defaults)                  draw
==================  =====================================  ==========================================
``constant``        ``value`` (required)                   every entry = value
``uniform``         ``low=0``, ``high=1``                  U[low, high)
``gaussian``        ``mean=0``, ``std=1``                  mean + std * N(0, 1)
``fan_in_gaussian`` --                                     N(0, 1/shape[0])
``fan_in_uniform``  --                                     U(-sqrt(1/shape[0]), +sqrt(1/shape[0]))
``log_gaussian``    ``sigma=1``                            exp(sigma * N(0, 1)) (lognormal(0, sigma))
``diag_offdiag``    ``on_diag``, ``off_diag`` (required)   on_diag * I + off_diag * (1 - I)
==================  =====================================  ==========================================

Post-processing options, common to every distribution and applied in this order:
``amin`` then ``amax`` (clip below / above); ``lower_triangle`` or ``upper_triangle`` (keep the
triangle including the diagonal; asking for both is a validation error); ``hollow`` (zero the
diagonal); ``eye`` (keep only the diagonal); ``col_mask`` (an int ``n`` keeps ``n`` columns
chosen at random, a list keeps the listed columns, every other column is zero); ``row_mask``
(the same for rows).

All numbers here are init-time values: draws happen once, eagerly, when a circuit is built,
so every float is marked :data:`~ngcspec.params.Static` and never enters the traced
parameters of a compiled program.

Deviations from ngc-learn:

- ``fan_in_uniform`` takes the fan-in from ``shape[0]`` (rows = inputs), like
  ``fan_in_gaussian``. ngc-learn uses ``shape[1]`` for the uniform variant only, which makes
  the two fan-in initialisers disagree on non-square matrices.
- ``log_gaussian`` works; ngc-learn's JAX path raises ``NameError`` on an undefined variable.
- There is no ``use_numpy`` switch: every draw comes from the JAX key split from the circuit's
  seed, so the same file and seed always give the same weights.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from ngcspec.lazy import jnp, random
from ngcspec.params import Static

StaticFloat = Annotated[float, Static]
_Index = Annotated[StrictInt, Field(ge=0)]
_Mask = Union[_Index, tuple[_Index, ...]]


class _InitBase(BaseModel):
    """Post-processing options shared by every distribution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dist: str = Field(description="initialiser name")  # narrowed to a Literal by each kind
    amin: Annotated[float | None, Static] = Field(
        None, description="clip values below this (applied first)")
    amax: Annotated[float | None, Static] = Field(
        None, description="clip values above this (applied after amin)")
    lower_triangle: bool = Field(
        False, description="keep the lower triangle, diagonal included (excludes upper_triangle)")
    upper_triangle: bool = Field(
        False, description="keep the upper triangle, diagonal included (excludes lower_triangle)")
    hollow: bool = Field(False, description="zero the diagonal")
    eye: bool = Field(False, description="keep only the diagonal")
    col_mask: Annotated[_Mask | None, Static] = Field(
        None, description="an int n keeps n randomly chosen columns; a list keeps those columns; "
                          "all other columns are zero")
    row_mask: Annotated[_Mask | None, Static] = Field(
        None, description="as col_mask, for rows")

    @model_validator(mode="after")
    def _check_options(self):
        if self.lower_triangle and self.upper_triangle:
            raise ValueError("lower_triangle and upper_triangle are mutually exclusive")
        if self.amin is not None and self.amax is not None and self.amin > self.amax:
            raise ValueError(f"amin ({self.amin}) is greater than amax ({self.amax})")
        return self


class ConstantInit(_InitBase):
    """Every entry equals ``value``."""

    dist: Literal["constant"] = Field(description="initialiser name")
    value: StaticFloat = Field(description="the value of every entry")


class UniformInit(_InitBase):
    """Uniform draw on [low, high)."""

    dist: Literal["uniform"] = Field(description="initialiser name")
    low: StaticFloat = Field(0.0, description="lower bound (included)")
    high: StaticFloat = Field(1.0, description="upper bound (excluded)")

    @model_validator(mode="after")
    def _check_bounds(self):
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self


class GaussianInit(_InitBase):
    """Normal draw mean + std * N(0, 1)."""

    dist: Literal["gaussian"] = Field(description="initialiser name")
    mean: StaticFloat = Field(0.0, description="mean")
    std: StaticFloat = Field(1.0, ge=0.0, description="standard deviation")


class FanInGaussianInit(_InitBase):
    """Normal draw N(0, 1/fan_in) with fan_in = shape[0] (the number of rows)."""

    dist: Literal["fan_in_gaussian"] = Field(description="initialiser name")


class FanInUniformInit(_InitBase):
    """Uniform draw on +-sqrt(1/fan_in) with fan_in = shape[0] (the number of rows).

    ngc-learn takes shape[1] here (inconsistent with its fan_in_gaussian); ngcspec uses rows
    for both."""

    dist: Literal["fan_in_uniform"] = Field(description="initialiser name")


class LogGaussianInit(_InitBase):
    """Lognormal draw exp(sigma * N(0, 1))."""

    dist: Literal["log_gaussian"] = Field(description="initialiser name")
    sigma: StaticFloat = Field(1.0, ge=0.0, description="standard deviation of the log")


class DiagOffDiagInit(_InitBase):
    """on_diag on the diagonal, off_diag everywhere else (2-D shapes only)."""

    dist: Literal["diag_offdiag"] = Field(description="initialiser name")
    on_diag: StaticFloat = Field(description="value on the diagonal")
    off_diag: StaticFloat = Field(description="value off the diagonal")


#: A weight initialiser, chosen by its ``dist`` field.
WeightInit = Annotated[
    Union[ConstantInit, UniformInit, GaussianInit, FanInGaussianInit, FanInUniformInit,
          LogGaussianInit, DiagOffDiagInit],
    Field(discriminator="dist"),
]


def parse(value: Any) -> BaseModel:
    """Validate a plain mapping (e.g. from YAML) into a :data:`WeightInit`."""
    from pydantic import TypeAdapter

    return TypeAdapter(WeightInit).validate_python(value)


def problems(init: BaseModel, shape) -> list[str]:
    """What is wrong with drawing ``init`` for ``shape`` (empty when it can be drawn)."""
    shape = tuple(int(n) for n in shape)
    out = []
    matrix_only = [name for name in ("lower_triangle", "upper_triangle", "hollow", "eye")
                   if getattr(init, name)]
    if init.dist == "diag_offdiag":
        matrix_only.insert(0, "dist diag_offdiag")
    if init.col_mask is not None:
        matrix_only.append("col_mask")
    if len(shape) != 2 and matrix_only:
        verb = "needs" if len(matrix_only) == 1 else "need"
        out.append(f"{', '.join(matrix_only)} {verb} a 2-D shape, got {shape}")
    if init.dist in ("fan_in_gaussian", "fan_in_uniform") and (not shape or shape[0] < 1):
        out.append(f"{init.dist} needs at least one row, got shape {shape}")
    for name, axis in (("col_mask", 1), ("row_mask", 0)):
        mask = getattr(init, name)
        if mask is None or len(shape) <= axis:
            continue
        n = shape[axis]
        if isinstance(mask, int) and mask > n:
            out.append(f"{name} keeps {mask} of only {n} {'columns' if axis else 'rows'}")
        elif not isinstance(mask, int) and any(i >= n for i in mask):
            out.append(f"{name} {list(mask)} indexes past the {n} "
                       f"{'columns' if axis else 'rows'}")
    if init.row_mask is not None and not shape:
        out.append("row_mask needs at least a 1-D shape")
    return out


def _keep(mask, n: int, key, dtype):
    """0/1 vector of length n keeping the listed indices, or `mask` indices chosen at random."""
    if isinstance(mask, int):
        chosen = random.permutation(key, n)[:mask]
    else:
        chosen = jnp.asarray(mask, dtype="int32")
    return jnp.zeros((n,), dtype).at[chosen].set(1)


def _base(init: BaseModel, shape: tuple[int, ...], key, dtype):
    d = init.dist
    if d == "constant":
        return jnp.full(shape, init.value, dtype)
    if d == "uniform":
        return random.uniform(key, shape, dtype, minval=init.low, maxval=init.high)
    if d == "gaussian":
        return init.mean + init.std * random.normal(key, shape, dtype)
    if d == "fan_in_gaussian":
        return math.sqrt(1.0 / shape[0]) * random.normal(key, shape, dtype)
    if d == "fan_in_uniform":
        r = math.sqrt(1.0 / shape[0])
        return random.uniform(key, shape, dtype, minval=-r, maxval=r)
    if d == "log_gaussian":
        return jnp.exp(init.sigma * random.normal(key, shape, dtype))
    if d == "diag_offdiag":
        eye = jnp.eye(shape[0], shape[1], dtype=dtype)
        return init.on_diag * eye + init.off_diag * (1 - eye)
    raise ValueError(f"unknown initialiser {d!r}")


# Complexity over 10 on purpose: one branch per distribution, then the optional post-processing
# steps in their documented order.
def draw(init: BaseModel, shape, key, dtype="float32"):  # noqa: C901
    """Draw an array of ``shape`` from ``init``, then apply its post-processing options.

    The key is split once: the first half draws the values, the second drives the random
    column/row masks, so adding a mask never changes the values that survive it.
    """
    shape = tuple(int(n) for n in shape)
    bad = problems(init, shape)
    if bad:
        raise ValueError(f"cannot draw {init.dist} for shape {shape}: {'; '.join(bad)}")
    k_values, k_masks = random.split(key)
    w = _base(init, shape, k_values, dtype)
    if init.amin is not None:
        w = jnp.maximum(w, init.amin)
    if init.amax is not None:
        w = jnp.minimum(w, init.amax)
    if init.lower_triangle:
        w = jnp.tril(w)
    if init.upper_triangle:
        w = jnp.triu(w)
    if init.hollow or init.eye:
        eye = jnp.eye(shape[0], shape[1], dtype=dtype)
        if init.hollow:
            w = w * (1 - eye)
        if init.eye:
            w = w * eye
    k_col, k_row = random.split(k_masks)
    if init.col_mask is not None:
        w = w * _keep(init.col_mask, shape[1], k_col, dtype)[None, :]
    if init.row_mask is not None:
        keep = _keep(init.row_mask, shape[0], k_row, dtype)
        w = w * (keep if len(shape) == 1 else keep.reshape((-1,) + (1,) * (len(shape) - 1)))
    return jnp.asarray(w, dtype)
