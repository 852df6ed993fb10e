"""The circuit file, as pydantic models (format version 1).

These models check the *form* of a file: field names, types and ranges. Whether the names
they mention exist (components, compartments, data sets, files) and whether shapes agree is
checked afterwards by :mod:`ngcspec.resolve`, which turns a valid :class:`CircuitSpec` into
the resolved form the compiler consumes. Component entries are validated against the
parameter model of their kind, taken from the registry.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag,
                      create_model, field_validator, model_validator)

from ngcspec.components.initializers import WeightInit
from ngcspec.errors import suggest
from ngcspec.params import refuse_bool_numbers

SPEC_VERSION = 1
NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
REF_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
WIRE_RE = re.compile(
    rf"^\s*(?:(?P<scale>{_NUM})\s*\*\s*)?(?P<src>\w+\.\w+)\s*(?P<arrow>->|~>)\s*(?P<dst>\w+\.\w+)\s*$")
#: the same form without named groups, for the JSON Schema (editors use ECMA-262 patterns)
WIRE_PATTERN = rf"^\s*(?:{_NUM}\s*\*\s*)?\w+\.\w+\s*(?:->|~>)\s*\w+\.\w+\s*$"

#: Validators below raise ``ValueError(message + HINT + hint)``: the resolver shows the part
#: after HINT as the problem's hint (how to fix it), apart from the message (what is wrong).
HINT = "\nhint: "

Name = Annotated[str, Field(pattern=NAME_RE)]
Ref = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$",
                           description="'component.compartment'")]
#: how a compartment is recorded (ngcspec.monitors explains each mode)
RecordMode = Literal["per_step", "per_batch", "final", "spike_times", "rate", "initial",
                     "per_repeat"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    _numbers_are_not_bools = model_validator(mode="before")(classmethod(refuse_bool_numbers))


def _matches_nothing(schema: dict, cls=None) -> None:
    """JSON Schema of a placeholder model that only exists to give an invalid value a readable
    error: editors must not accept anything because of it."""
    schema.clear()
    schema.update({"not": {}, "description": "(no valid value: placeholder for error messages)"})


def _or_shorthand(word: str):
    """JSON Schema of a model that may also be written as one word ('reset', 'advance')."""
    def extra(schema: dict, cls=None) -> None:
        full = dict(schema)
        schema.clear()
        schema["anyOf"] = [full, {"const": word, "description": f"shorthand for {cls.__name__}"}]
    return extra


# ---------------------------------------------------------------------------------------------
# data


class DataSource(Model):
    """A stream of batches: a shipped data set by name, or arrays from a file."""

    dataset: str | None = Field(None, description="name of a shipped data set (ngc data)")
    file: str | None = Field(None, description=".npz/.csv file, relative to the circuit file")
    x: str | None = Field(None, description="file only: array name (npz) or columns (csv) of inputs")
    y: str | None = Field(None, description="file only: array name or columns of targets")
    label: str | None = Field(None, description="file only: array name or column of integer labels")
    split: Literal["train", "test", "all"] = Field("all", description="which split of the data set")
    batch_size: int = Field(..., ge=1, le=1_000_000, description="samples per batch")
    shuffle: bool = Field(False, description="reshuffle the samples every epoch (seeded)")
    limit: int | None = Field(None, ge=1, description="use only the first N samples")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.dataset is None) == (self.file is None):
            raise ValueError("give exactly one of 'dataset' (a shipped data set) or 'file'")
        if self.dataset is not None and any(v is not None for v in (self.x, self.y, self.label)):
            raise ValueError("'x', 'y' and 'label' select arrays of a 'file' source only")
        if self.file is not None and self.split != "all":
            raise ValueError("'split' selects a part of a shipped data set; a 'file' source is "
                             "used whole (put each split in its own file)")
        return self


# ---------------------------------------------------------------------------------------------
# clamps: what is held on an unwired input compartment


class ConstantClamp(Model):
    constant: float | list = Field(..., description="a number, or a nested list of the compartment's per-sample shape")


class FileClamp(Model):
    file: str = Field(..., description=".npy/.npz/.csv file relative to the circuit file")
    key: str | None = Field(None, description="array name inside an .npz")


class StimulusClamp(Model):
    stimulus: str = Field(..., description="file with a time axis first: (T, *shape); step k of each reset reads row k")
    key: str | None = Field(None, description="array name inside an .npz")


def _clamp_tag(v: Any) -> str:
    if isinstance(v, str):
        return "data"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return "number"
    if isinstance(v, dict):
        for k in ("constant", "file", "stimulus"):
            if k in v:
                return k
    if isinstance(v, BaseModel):
        return {ConstantClamp: "constant", FileClamp: "file", StimulusClamp: "stimulus"}.get(
            type(v), "unknown")
    return "unknown"


_CLAMP_FORMS = ("a clamp is a data field ('train.x'), a number, {constant: number or list}, "
                "{file: array.npy} or {stimulus: array.npy}")


def _kind_of(v: Any) -> str:
    if v is None:
        return "an empty value"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the text {v!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping" + (f" with {', '.join(repr(str(k)) for k in list(v)[:3])}" if v else "")
    return f"{type(v).__name__}"


class UnknownClamp(Model):
    """Placeholder so a clamp of no known form gets one readable error."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_matches_nothing)

    @model_validator(mode="before")
    @classmethod
    def _fail(cls, v):
        near = ""
        if isinstance(v, dict) and v:
            near = suggest(str(next(iter(v))), ["constant", "file", "stimulus"])
        elif isinstance(v, list):
            near = "write a list as {constant: [...]}"
        raise ValueError(f"{_CLAMP_FORMS}, not {_kind_of(v)}" + (f"{HINT}{near}" if near else ""))


Clamp = Annotated[
    Union[
        Annotated[Ref, Tag("data")],
        Annotated[float, Tag("number")],
        Annotated[ConstantClamp, Tag("constant")],
        Annotated[FileClamp, Tag("file")],
        Annotated[StimulusClamp, Tag("stimulus")],
        Annotated[UnknownClamp, Tag("unknown")],
    ],
    Discriminator(_clamp_tag),
]


# ---------------------------------------------------------------------------------------------
# wires


class WireSpec(Model):
    source: Ref = Field(..., alias="from", description="'component.compartment' read")
    target: Ref = Field(..., alias="to", description="input compartment it feeds (summed with other wires)")
    scale: float | None = Field(
        None, allow_inf_nan=False,
        description="factor applied to the value carried (a traced parameter: jax.grad reaches "
                    "it); without one the wire carries the value unchanged, at no cost")
    delayed: bool = Field(False, description="read the source's value from the end of the previous step")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_wire(v: Any) -> Any:
    if isinstance(v, str):
        m = WIRE_RE.match(v)
        if not m:
            raise ValueError(
                f"cannot read wire {v!r}: {_wire_trouble(v)}{HINT}a wire is 'src.compartment -> "
                "dst.compartment' ('~>' for a one-step delay, optional 'scale * ' prefix)")
        return {"from": m["src"], "to": m["dst"], "delayed": m["arrow"] == "~>",
                "scale": float(m["scale"]) if m["scale"] else None}
    if not isinstance(v, (dict, WireSpec)):
        raise ValueError(f"a wire is a string 'src.compartment -> dst.compartment' or a mapping "
                         f"{{from: ..., to: ..., scale: ..., delayed: ...}}, not {_kind_of(v)}")
    return v


def _wire_trouble(v: str) -> str:
    """What is wrong with a wire string that does not parse, in a few words."""
    arrows = re.findall(r"->|~>", v)
    if not arrows:
        odd = re.search(r"=>|<-|-+>|~+>|>|~|=", v)
        return (f"'{odd.group(0)}' is not an arrow" if odd else "there is no arrow") + \
            " (use '->', or '~>' for a one-step delay)"
    if len(arrows) > 1:
        return "a wire has one arrow (write one wire per line)"
    left, right = re.split(r"->|~>", v, maxsplit=1)
    if "*" in left:
        scale, _, left = left.rpartition("*")
        if not re.fullmatch(rf"\s*{_NUM}\s*", scale):
            return f"the scale '{scale.strip()}' is not a number"
    for end, what in ((left.strip(), "source"), (right.strip(), "target")):
        if not REF_RE.match(end):
            return f"the {what} '{end}' is not 'component.compartment'"
    return "it does not have the form of a wire"


Wire = Annotated[WireSpec, BeforeValidator(parse_wire, json_schema_input_type=Union[
                     Annotated[str, Field(pattern=WIRE_PATTERN)], WireSpec]),
                 Field(description="'a.x -> b.y', 'a.x ~> b.y', '-1.0 * a.x -> b.y' or a mapping")]


# ---------------------------------------------------------------------------------------------
# schedule


class Advance(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_or_shorthand("advance"))

    advance: int = Field(1, ge=1, le=10_000_000, description="steps of every component, fused into one scan")


class Evolve(Model):
    evolve: list[Name] = Field(..., min_length=1, description="plastic components to update, in this order")


class Repeat(Model):
    repeat: int = Field(..., ge=1, le=10_000_000, description="times to run the block")
    do: list["Entry"] = Field(..., min_length=1, description="the block: schedule entries")


class Reset(Model):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_or_shorthand("reset"))

    reset: Literal[True] = True


def _entry_tag(v: Any) -> str:
    if v == "reset" or (isinstance(v, dict) and "reset" in v):
        return "reset"
    if v == "advance":
        return "advance"
    if isinstance(v, dict):
        for k in ("advance", "evolve", "repeat"):
            if k in v:
                return k
    return "unknown"


def _normalise_entry(v: Any) -> Any:
    if v == "reset":
        return {"reset": True}
    if v == "advance":
        return {"advance": 1}
    return v


class UnknownEntry(Model):
    """Placeholder so an unknown entry gets one readable error."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_matches_nothing)

    @model_validator(mode="before")
    @classmethod
    def _fail(cls, v):
        near = ""
        if isinstance(v, str):
            near = suggest(v, ["reset", "advance"])
        elif isinstance(v, dict) and v:
            near = suggest(str(next(iter(v))), ["advance", "evolve", "repeat", "reset", "do"])
        what = f"'{v}'" if isinstance(v, str) else f"'{next(iter(v))}'" if isinstance(v, dict) and v \
            else f"({_kind_of(v)})"
        raise ValueError(f"unknown schedule entry {what}; expected 'reset', 'advance', {{advance: N}}, "
                         "{evolve: [names]} or {repeat: N, do: [...]}" + (f"{HINT}{near}" if near else ""))


Entry = Annotated[
    Union[
        Annotated[Reset, Tag("reset")],
        Annotated[Advance, Tag("advance")],
        Annotated[Evolve, Tag("evolve")],
        Annotated[Repeat, Tag("repeat")],
        Annotated[UnknownEntry, Tag("unknown")],
    ],
    Discriminator(_entry_tag),
]
Repeat.model_rebuild()


def normalise_schedule(v: Any) -> Any:
    if isinstance(v, list):
        out = []
        for e in v:
            e = _normalise_entry(e)
            if isinstance(e, dict) and "do" in e:
                e = {**e, "do": normalise_schedule(e["do"])}
            out.append(e)
        return out
    return v


# ---------------------------------------------------------------------------------------------
# phases, metrics, run


class MeanMetric(Model):
    mean: Ref = Field(..., description="mean over every element (and sample) of a compartment")
    unit: int | None = Field(None, ge=0, description="only this unit of each sample (flat index), "
                             "e.g. one cell's spike count")
    scale: float = Field(1.0, allow_inf_nan=False,
                         description="factor on the mean, e.g. 1000 / (steps x dt) to turn a "
                                     "spike count into Hz")


class AccuracyMetric(Model):
    accuracy: Ref = Field(..., description="fraction of samples whose argmax matches the data's label")


def _metric_tag(v: Any) -> str:
    if isinstance(v, dict) and "accuracy" in v:
        return "accuracy"
    return "mean"


Metric = Annotated[
    Union[Annotated[MeanMetric, Tag("mean")], Annotated[AccuracyMetric, Tag("accuracy")]],
    Discriminator(_metric_tag),
]


class Phase(Model):
    """One pass per epoch over a data set with its own clamps, schedule and metrics."""

    data: Name | None = Field(None, description="data source of this phase (a key of 'data')")
    clamps: dict[Ref, Clamp] | None = Field(None, description="default: the file's top-level clamps")
    schedule: list[Entry] | None = Field(None, description="default: the file's top-level schedule")
    metrics: dict[Name, Metric] = Field(
        default_factory=dict,
        description="named metrics: {name: {mean: comp.x}} or {name: {accuracy: comp.x}}")
    record: dict[Ref, RecordMode] | None = Field(None, description="default: run.record")
    every: int = Field(1, ge=1, description="run this phase every N epochs (and after the last)")
    batches: int = Field(1, ge=1, description="without data: batches per epoch")
    batch_size: int = Field(1, ge=1, le=1_000_000, description="without data: samples per batch")

    @field_validator("schedule", mode="before")
    @classmethod
    def _sched(cls, v):
        return normalise_schedule(v)


class RunSpec(Model):
    """How ``ngc run`` runs the circuit: epochs, what to record, NaN checks."""

    epochs: int = Field(1, ge=1, le=1_000_000, description="passes over every phase's data")
    record: dict[Ref, RecordMode] = Field(default_factory=dict,
                                          description="compartments to save and how often")
    check_finite: bool = Field(True, description="report the first NaN/Inf in the state (component, compartment, step)")
    shard: Literal["batch", "members", "neurons"] | None = Field(
        None, description="how several devices (ngc run --devices) split the work: batch "
        "(data parallel), members (a sweep's members), neurons (the unit axis of state and "
        "weights); default: members for sweeps, batch when every phase's batch splits evenly, "
        "else neurons")

    @model_validator(mode="before")
    @classmethod
    def _metrics_belong_to_phases(cls, v):
        if isinstance(v, dict) and "metrics" in v:
            raise ValueError("'metrics' belong under a phase, not under 'run'" + HINT +
                             "move them into a phase: phases: {train: {data: train, metrics: "
                             "{...}}}")
        return v


class Tie(Model):
    to: Ref = Field(..., description="'component.compartment' whose value this compartment shares")
    compartment: Name = Field("weights", description="this component's compartment that is tied")
    transpose: bool = Field(False, description="share the transpose instead")


class Normalize(Model):
    compartment: Name = Field("weights", description="compartment rescaled after every evolve")
    order: Literal[1, 2] = Field(2, description="L1 or L2 norm")
    axis: Literal[0, 1] = Field(0, description="0: each column (per post unit), 1: each row")
    value: float = Field(1.0, gt=0, description="target norm")


def _init_tag(v: Any) -> str:
    if isinstance(v, list):
        return "inline"
    return "draw" if (isinstance(v, dict) and "dist" in v) or hasattr(v, "dist") else "file"


#: An initial value: an array file, the numbers themselves as a nested list (small weights),
#: or a random draw ({dist: gaussian, mean: -65, std: 5}, the weight initialisers' format).
InitValue = Annotated[
    Union[Annotated[FileClamp, Tag("file")], Annotated[list, Tag("inline")],
          Annotated[WeightInit, Tag("draw")]],
    Discriminator(_init_tag),
]


class ComponentCommon(Model):
    """Fields every component entry accepts besides its kind's parameters."""

    kind: str = Field(..., description="component kind (ngc components)")
    tie: Tie | None = Field(None, description="share a compartment with another component")
    init: dict[Name, InitValue] | None = Field(
        None, description="initial values per compartment (weights, state): {file: array.npy}, "
                          "the numbers as a nested list, e.g. weights: [[0.5, -1.0]], or a draw, "
                          "e.g. v: {dist: gaussian, mean: -65.0, std: 5.0} (from the seed)")
    normalize: Normalize | None = Field(None, description="rescale a compartment after evolve")


COMMON_FIELDS = set(ComponentCommon.model_fields)


@lru_cache(maxsize=None)
def entry_model(kind):
    """The model of one component entry of ``kind`` (a registered component class): the
    kind's parameters plus the common fields. Validation and the JSON Schema both use it."""
    clash = COMMON_FIELDS & set(kind.Params.model_fields)
    if clash:
        raise TypeError(f"{kind.kind} uses reserved parameter names {sorted(clash)}")
    fields = {n: (f.annotation, f) for n, f in ComponentCommon.model_fields.items() if n != "kind"}
    return create_model(f"{kind.kind}Entry", __base__=kind.Params,
                        kind=(Literal[kind.kind], ...), **fields)


# ---------------------------------------------------------------------------------------------
# sweeps: one study of many members (ngcspec.sweepspec checks names, ngcspec.sweep runs it)


class Linspace(Model):
    linspace: tuple[float, float] = Field(..., description="first and last value, evenly spaced")
    n: int = Field(..., ge=1, le=100_000, description="number of values")


class Logspace(Model):
    logspace: tuple[float, float] = Field(
        ..., description="first and last value (both > 0), evenly spaced in log")
    n: int = Field(..., ge=1, le=100_000, description="number of values")

    @model_validator(mode="after")
    def _positive(self):
        if min(self.logspace) <= 0:
            raise ValueError(f"logspace bounds must be > 0, got {list(self.logspace)}"
                             f"{HINT}use linspace for ranges that reach 0 or below")
        return self


class IntRange(Model):
    range: list[int] = Field(..., min_length=2, max_length=3,
                             description="[start, stop] or [start, stop, step]: integers from "
                                         "start up to, not including, stop")

    @model_validator(mode="after")
    def _nonempty(self):
        start, stop, step = (*self.range, 1)[:3]
        if step == 0 or len(range(start, stop, step)) == 0:
            raise ValueError(f"range {self.range} holds no values{HINT}write [start, stop] with "
                             "stop > start, e.g. {range: [0, 10]}")
        return self


_VALUE_FORMS = ("a list of values, {linspace: [a, b], n: N}, {logspace: [a, b], n: N} or "
                "{range: [start, stop]}")


def _values_tag(v: Any) -> str:
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        for k in ("linspace", "logspace", "range"):
            if k in v:
                return k
    if isinstance(v, BaseModel):
        return {Linspace: "linspace", Logspace: "logspace", IntRange: "range"}.get(type(v), "?")
    return "unknown"


class UnknownValues(Model):
    """Placeholder so swept values of no known form get one readable error."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_matches_nothing)

    @model_validator(mode="before")
    @classmethod
    def _fail(cls, v):
        near = suggest(str(next(iter(v))), ["linspace", "logspace", "range"]) \
            if isinstance(v, dict) and v else "write one value as a list of one: [0.01]"
        raise ValueError(f"swept values are {_VALUE_FORMS}, not {_kind_of(v)}{HINT}{near}")


SweepValues = Annotated[
    Union[Annotated[list[Union[int, float, str, bool, None]], Field(min_length=1), Tag("list")],
          Annotated[Linspace, Tag("linspace")], Annotated[Logspace, Tag("logspace")],
          Annotated[IntRange, Tag("range")], Annotated[UnknownValues, Tag("unknown")]],
    Discriminator(_values_tag), Field(description=_VALUE_FORMS)]


class RandomCombine(Model):
    random: int = Field(..., ge=1, le=1_000_000,
                        description="this many combinations drawn from the grid (seeded)")


class OptunaOptions(Model):
    trials: int = Field(..., ge=1, le=1_000_000, description="parameter combinations to try")
    batch: int = Field(16, ge=1, le=100_000, description="trials asked for and run together")
    sampler: Literal["tpe", "random"] = Field("tpe", description="optuna's sampler")


class OptunaCombine(Model):
    optuna: OptunaOptions = Field(..., description="adaptive search (pip install -e \".[search]\")")


def _combine_tag(v: Any) -> str:
    if isinstance(v, str):
        return "word"
    if isinstance(v, dict) and "random" in v or isinstance(v, RandomCombine):
        return "random"
    if isinstance(v, dict) and "optuna" in v or isinstance(v, OptunaCombine):
        return "optuna"
    return "unknown"


class UnknownCombine(Model):
    """Placeholder so a combine of no known form gets one readable error."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_matches_nothing)

    @model_validator(mode="before")
    @classmethod
    def _fail(cls, v):
        near = suggest(str(next(iter(v))), ["random", "optuna"]) if isinstance(v, dict) and v \
            else ""
        raise ValueError("combine is 'grid', 'zip', {random: N} or {optuna: {trials: N, "
                         f"batch: K}}}}, not {_kind_of(v)}" + (f"{HINT}{near}" if near else ""))


Combine = Annotated[
    Union[Annotated[Literal["grid", "zip"], Tag("word")], Annotated[RandomCombine, Tag("random")],
          Annotated[OptunaCombine, Tag("optuna")], Annotated[UnknownCombine, Tag("unknown")]],
    Discriminator(_combine_tag)]


def _seeds_tag(v: Any) -> str:
    return "list" if isinstance(v, list) else "range"


class Report(Model):
    metric: Ref = Field(..., description="'phase.metric' the table is sorted by")
    goal: Literal["max", "min"] = Field("max", description="whether larger is better")


class SweepSpec(Model):
    """A study: the circuit run once per member (a combination of parameters and a seed)."""

    params: dict[str, SweepValues] = Field(
        default_factory=dict, description="parameter as in --set (W1.eta, z1.prior.leak, dt) "
                                          "-> values")
    seeds: Annotated[Union[Annotated[list[Annotated[int, Field(ge=0, le=2**32 - 1)]],
                                     Field(min_length=1), Tag("list")],
                           Annotated[IntRange, Tag("range")]],
                     Discriminator(_seeds_tag)] | None = Field(
        None, description="seeds run for every combination, a list or {range: [start, stop]} "
                          "(default: the file's seed)")
    combine: Combine = Field(
        "grid", description="grid (every combination), zip (i-th values together), "
                            "{random: N} or {optuna: {trials, batch}}")
    report: Report | None = Field(None, description="metric the results are sorted by "
                                                    "(default: the first accuracy, else metric)")


class CircuitSpec(Model):
    """A circuit file."""

    ngcspec: Literal[1] = Field(..., description="format version of this file")
    name: str = Field(..., min_length=1, max_length=200,
                      description="the circuit's name (run directories are named after it)")
    description: str = Field("", description="free text about the circuit")
    dt: float = Field(1.0, gt=0, le=1e6, description="integration step (ms)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of every random draw (initial "
                      "weights, noise, shuffling); `ngc run --seed` overrides it")
    dtype: Literal["float32", "float64"] = Field("float32", description="floating-point type of "
                                                 "the state and of the computation")
    data: dict[Name, DataSource] = Field(
        default_factory=dict, description="data sources by name: a shipped data set or arrays "
                                          "from a file, served in batches")
    components: dict[Name, dict[str, Any]] = Field(
        ..., min_length=1, description="components by name: {kind: KIND, ...its parameters} "
                                       "(`ngc components KIND` lists them)")
    wires: list[Wire] = Field(
        default_factory=list, description="what input compartments read: 'a.x -> b.y' "
                                          "('~>' reads the previous step's value)")
    order: list[Name] | None = Field(None, description="explicit execution order, checked against the wires")
    clamps: dict[Ref, Clamp] = Field(
        default_factory=dict, description="values held on unwired inputs: a data field "
                                          "('train.x'), a number, {constant}, {file} or {stimulus}")
    schedule: list[Entry] | None = Field(
        None, description="what one batch does: reset, advance N steps, evolve plastic "
                          "components, repeat blocks")
    phases: dict[Name, Phase] | None = Field(
        None, description="passes per epoch (train, test, ...), each with its own data, clamps, "
                          "schedule, metrics and records; without phases one phase named 'run'")
    run: RunSpec = Field(default_factory=RunSpec, description="epochs, records, NaN checks")
    sweep: SweepSpec | None = Field(None, description="a study run by `ngc sweep` (ignored by `ngc run`)")

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "$comment": "generated by `ngc schema`; do not edit"})

    @field_validator("schedule", mode="before")
    @classmethod
    def _sched(cls, v):
        return normalise_schedule(v)

    @field_validator("ngcspec", mode="before")
    @classmethod
    def _version(cls, v):
        if isinstance(v, bool) or v != SPEC_VERSION:
            shown = _kind_of(v) if isinstance(v, (list, dict, type(None), bool)) else repr(v) \
                if isinstance(v, str) else v
            raise ValueError(f"unsupported format version (got {shown}): this ngcspec reads "
                             f"files that start with 'ngcspec: {SPEC_VERSION}'")
        return v

    @model_validator(mode="after")
    def _has_schedule(self):
        if self.schedule is None and (not self.phases or any(p.schedule is None for p in self.phases.values())):
            raise ValueError("a 'schedule' is required (at top level, or in every phase)")
        return self
