"""The contract every registered component kind keeps, checked for all of them at once.

Each kind (``ngcspec.registry.kinds()``: the library and any kind registered later) is built
with minimal valid parameters derived from its pydantic ``Params`` model and run through
init, reset, advance and evolve on small shapes, for batch 1 and 3, float32 and float64:

- init returns exactly the persistent compartments, with their declared per-sample shapes;
- every compartment of the state has its declared shape (batch axis where declared) and the
  program's dtype (int32 for integer counters);
- advance and evolve write only declared compartments, never an input, with the shape and
  dtype they already have; the compiler's own check (``checked_writes``) agrees;
- reset leaves persistent compartments as they were;
- evolve exists exactly for plastic kinds.

The steps are traced with ``jax.eval_shape`` (no compilation), so the whole sweep is fast;
one step per kind is also executed and must give finite values.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from ngcspec.registry import Component, StepContext, kinds

# Parameters the derivation cannot guess (a value that must agree with another one).
# A new kind that cannot be built from its required fields alone needs an entry here.
OVERRIDES: dict[str, dict[str, Any]] = {
    "DoubleExpSynapse": {"tau_rise": 1.0},   # must rise faster than it decays (tau_decay 2)
    "RewardErrorCell": {"alpha": 0.5},       # a moving-average weight in (0, 1]
}

_FLOAT = 2.0   # every required float (time constants, rates, amplitudes)
_INTS = (3, 4, 5, 6)  # successive required ints differ, so a swapped axis shows as a shape error


def _derive(annotation, counter: list[int]):
    """A small valid value for a required field of type ``annotation``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _derive(args[0], counter)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _derive(options[0], counter) if options else None
    if origin is typing.Literal:
        return args[0]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_derive(args[0], counter) for _ in range(2))
        return tuple(_derive(a, counter) for a in args)
    if annotation is bool:
        return False
    if annotation is int:
        counter[0] += 1
        return _INTS[(counter[0] - 1) % len(_INTS)]
    if annotation is float:
        return _FLOAT
    raise TypeError(f"no minimal value for a field of type {annotation!r}")


def minimal_params(kind: type[Component]) -> BaseModel:
    """The kind's parameter model with every required field given a small valid value."""
    data: dict[str, Any] = {}
    counter = [0]
    try:
        for name, field in kind.Params.model_fields.items():
            if field.is_required():
                data[name] = _derive(field.annotation, counter)
        data.update(OVERRIDES.get(kind.kind, {}))
        model = kind.Params.model_validate(data)
    except (TypeError, ValidationError) as exc:
        pytest.fail(f"{kind.kind}: cannot derive minimal parameters ({exc}); add an entry "
                    f"for it to OVERRIDES in tests/test_kind_contract.py")
    problems = kind.check(model)
    if problems:
        pytest.fail(f"{kind.kind}: derived parameters {data} fail its check ({problems}); add "
                    f"an entry for it to OVERRIDES in tests/test_kind_contract.py")
    return model


# ---------------------------------------------------------------------------------------------
# Running a kind on its own, as the compiler does for one component

def _expected(kind, shapes, name, batch, dtype):
    c = kind.compartments[name]
    return ((batch,) if c.batched else ()) + tuple(shapes[name]), ("int32" if c.integer else dtype)


def _assert_declared(kind, method, written, shapes, batch, dtype):
    for name, value in written.items():
        assert name in kind.compartments, f"{kind.kind}.{method} wrote undeclared '{name}'"
        c = kind.compartments[name]
        assert c.role != "input" or c.consumed, f"{kind.kind}.{method} wrote its input '{name}'"
        shape, dt = _expected(kind, shapes, name, batch, dtype)
        assert (tuple(value.shape), str(value.dtype)) == (shape, dt), (
            f"{kind.kind}.{method} wrote {name} as {value.shape} {value.dtype}, declared {shape} {dt}")


def _fresh_state(kind, p, view, shapes, batch, dtype, ctx):
    from ngcspec.lazy import random
    from ngcspec.state import initial_values, reset_component

    made = kind.init(p, random.PRNGKey(1), dtype)
    persistent = {n for n, c in kind.compartments.items() if c.persistent}
    assert set(made) == persistent, f"{kind.kind}.init returned {sorted(made)}, not {sorted(persistent)}"
    for name, value in made.items():
        per_sample = tuple(shapes[name])
        _, dt = _expected(kind, shapes, name, batch, dtype)
        assert str(value.dtype) == dt, f"{kind.kind}.init: {name} is {value.dtype}, not {dt}"
        assert tuple(value.shape) in (per_sample, _expected(kind, shapes, name, batch, dtype)[0])
    s = initial_values(kind, p, random.PRNGKey(1), shapes, batch, dtype)
    s = reset_component(kind, view, s, shapes, ctx, dtype)
    assert set(s) == set(kind.compartments)
    _assert_declared(kind, "reset", {n: v for n, v in s.items()
                                     if kind.compartments[n].role != "input"}, shapes, batch, dtype)
    return s


def _drive(kind, s, key):
    """The state with every input holding random values in [0.5, 1.5) (positive, so a
    variance or a rate read from an input stays valid)."""
    from ngcspec.lazy import random

    out = dict(s)
    for i, (name, c) in enumerate(kind.compartments.items()):
        if c.role == "input":
            u = random.uniform(random.fold_in(key, i), s[name].shape, s[name].dtype)
            out[name] = 0.5 + u
    return out


def _cycle(kind, p, batch, dtype):
    """init, reset, advance with driven inputs, evolve (plastic kinds), reset again, with
    the contract checked at every step; returns what advance wrote, the state before the
    second reset and the state after it."""
    from ngcspec.compiler import checked_writes
    from ngcspec.lazy import jnp, random
    from ngcspec.params import ParamView
    from ngcspec.state import numeric_params, reset_component

    shapes = kind.shapes(p)
    view = ParamView(p, numeric_params(p, dtype))
    ctx = StepContext(jnp.asarray(0.1, dtype), jnp.zeros((), dtype),
                      random.PRNGKey(2) if kind.stochastic else None, batch)
    s = _drive(kind, _fresh_state(kind, p, view, shapes, batch, dtype, ctx), random.PRNGKey(3))

    advanced = kind.advance(view, s, ctx)
    _assert_declared(kind, "advance", advanced, shapes, batch, dtype)
    s = {**s, **checked_writes(kind, "advance", advanced, s)}

    overridden = kind.evolve.__func__ is not Component.evolve.__func__
    assert overridden == kind.plastic, f"{kind.kind}: evolve is defined iff the kind is plastic"
    if kind.plastic:
        evolved = kind.evolve(view, s, ctx)
        _assert_declared(kind, "evolve", evolved, shapes, batch, dtype)
        s = {**s, **checked_writes(kind, "evolve", evolved, s)}
    else:
        with pytest.raises(TypeError, match="has no plasticity"):
            kind.evolve(view, s, ctx)

    after = reset_component(kind, view, s, shapes, ctx, dtype)
    _assert_declared(kind, "reset", {n: v for n, v in after.items()
                                     if kind.compartments[n].role != "input"}, shapes, batch, dtype)
    return advanced, s, after


KINDS = sorted(kinds())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", KINDS)
def test_every_kind_keeps_its_contract(name, batch, dtype):
    """Names, shapes and dtypes of everything each method returns, traced (not run)."""
    from ngcspec.compiler import precision
    from ngcspec.lazy import jax

    kind = kinds()[name]
    p = minimal_params(kind)
    with precision(dtype):
        jax.eval_shape(lambda: _cycle(kind, p, batch, dtype))


def _rewritten_by_reset(kind, p, batch, dtype) -> set[str]:
    """Persistent compartments that reset returns anew (traced: any other is passed on
    untouched, so it survives reset by construction)."""
    from ngcspec.compiler import precision
    from ngcspec.lazy import jax

    found: set[str] = set()

    def traced():
        _, before, after = _cycle(kind, p, batch, dtype)
        found.update(n for n, c in kind.compartments.items()
                     if c.persistent and after[n] is not before[n])

    with precision(dtype):
        jax.eval_shape(traced)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", KINDS)
def test_reset_keeps_persistent_compartments_and_a_step_consumes_its_gate(name):
    """Executed (batch 3, float64) for the kinds whose reset rewrites a persistent
    compartment (it must give back the same values after a step and an evolve) or that
    declare a consumed input (the step must set it back to its reset value)."""
    from ngcspec.compiler import precision
    from ngcspec.lazy import jax

    kind = kinds()[name]
    p = minimal_params(kind)
    rewritten = _rewritten_by_reset(kind, p, 3, "float64")
    consumed = [n for n, c in kind.compartments.items() if c.consumed]
    if not rewritten and not consumed:
        return
    with precision("float64"):
        advanced, before, after = jax.jit(lambda: _cycle(kind, p, 3, "float64"))()
    for n in rewritten:
        np.testing.assert_array_equal(np.asarray(after[n]), np.asarray(before[n]),
                                      err_msg=f"{name}: reset changed persistent {n}")
    for n in consumed:
        reset = kind.compartments[n].reset
        np.testing.assert_array_equal(np.asarray(advanced[n]),
                                      getattr(p, reset) if isinstance(reset, str) else reset)


# ---------------------------------------------------------------------------------------------
# The compiler refuses a kind that breaks the contract, naming kind, method and compartment

CIRCUIT = """
ngcspec: 1
name: contract
components:
  x: {kind: RateCell, n_units: 3, tau_m: 0.0}
  W: {kind: HebbianSynapse, shape: [3, 2], eta: 0.1}
  z: {kind: RateCell, n_units: 2, tau_m: 10.0}
wires:
  - x.zF -> W.inputs
  - W.outputs -> z.j
  - x.zF -> W.pre
  - z.zF -> W.post
schedule: [reset, {advance: 2}, {evolve: [W]}]
phases:
  run: {batches: 1, batch_size: 2}
"""


def _trace_with(tmp_path, name, kind):
    """Trace one step and the evolve of the circuit with component ``name`` of ``kind``
    (tracing is where the compiler checks the writes; nothing is compiled)."""
    import dataclasses

    import ngcspec
    from ngcspec.compiler import Program
    from ngcspec.lazy import jax, random

    (tmp_path / "c.yaml").write_text(CIRCUIT)
    resolved = ngcspec.load(tmp_path / "c.yaml").resolved
    comps = dict(resolved.components)
    comps[name] = dataclasses.replace(comps[name], kind=kind)
    prog = Program(dataclasses.replace(resolved, components=comps))
    params = prog.initial_params()
    state = jax.eval_shape(lambda: prog.init_state(params, random.PRNGKey(0), 2))
    state = jax.eval_shape(lambda st: prog.step(params, st, 0, random.PRNGKey(1)), state)
    jax.eval_shape(lambda st: prog.evolve(params, st, ["W"], 0), state)


def _writes_input_in_advance():
    from ngcspec.components.graded import RateCell

    class WritesJ(RateCell):
        @classmethod
        def advance(cls, p, s, ctx):
            return {**super().advance(p, s, ctx), "j": s["j"] * 0}
    return WritesJ


def _writes_input_in_evolve():
    from ngcspec.components.synapses import HebbianSynapse

    class WritesPre(HebbianSynapse):
        @classmethod
        def evolve(cls, p, s, ctx):
            return {**super().evolve(p, s, ctx), "pre": s["pre"] * 0}
    return WritesPre


def _writes_wrong_dtype():
    from ngcspec.components.synapses import HebbianSynapse

    class CountsInFloats(HebbianSynapse):
        @classmethod
        def evolve(cls, p, s, ctx):
            out = super().evolve(p, s, ctx)
            return {**out, "opt_count": out["opt_count"].astype(s["weights"].dtype)}
    return CountsInFloats


def _writes_wrong_shape():
    from ngcspec.components.graded import RateCell

    class DropsBatch(RateCell):
        @classmethod
        def advance(cls, p, s, ctx):
            out = super().advance(p, s, ctx)
            return {**out, "zF": out["zF"][0]}
    return DropsBatch


@pytest.mark.parametrize("name, make, says", [
    ("z", _writes_input_in_advance, r"RateCell\.advance wrote its input 'j'; steps never write"),
    ("W", _writes_input_in_evolve, r"HebbianSynapse\.evolve wrote its input 'pre'"),
    ("W", _writes_wrong_dtype,
     r"HebbianSynapse\.evolve wrote opt_count with shape \(\) and dtype float32; the "
     r"compartment has shape \(\) and dtype int32"),
    ("z", _writes_wrong_shape,
     r"RateCell\.advance wrote zF with shape \(2,\) .*has shape \(2, 2\)"),
])
def test_a_kind_breaking_the_contract_is_refused_naming_kind_method_and_compartment(
        tmp_path, name, make, says):
    from ngcspec.compiler import KindContractError

    with pytest.raises(KindContractError, match=says):
        _trace_with(tmp_path, name, make())


def test_the_error_cells_mask_is_the_only_input_a_step_writes():
    """The declared exception, kept as narrow as it is (a new one needs a reason)."""
    consumed = sorted(f"{k}.{n}" for k, kind in kinds().items()
                      for n, c in kind.compartments.items() if c.consumed)
    assert consumed == ["BernoulliErrorCell.mask", "GaussianErrorCell.mask",
                        "LaplacianErrorCell.mask"]
