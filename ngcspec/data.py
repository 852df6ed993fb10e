"""Data for circuits: the data sets shipped with ngcspec by name, and the user's files by path.

Shipped sets (``digits``, ``diabetes``) live as small ``.npz`` files in :mod:`ngcspec.datasets`
with their train/test split stored inside, so nothing is downloaded and nothing random happens
at load time. Every loaded data source is a dict of numpy arrays with one row per sample:

    x      (N, D) float32   what is clamped as input
    y      (N, K) float32   the target (one-hot for a classification set)
    label  (N,)   int32     the class index (classification sets only)

User files are ``.npy``, ``.npz`` or ``.csv``. Arrays are always read with
``allow_pickle=False``: a data file must never be able to run code. Every failure is a
:class:`DataError` saying what is wrong and how to fix it.

This module imports numpy only (validation must not pay for JAX).
"""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping, NamedTuple, Sequence, Union

import numpy as np

from ngcspec.errors import NgcspecError, one_of, suggest

SPLITS = ("train", "test", "all")
ARRAY_SUFFIXES = (".npy", ".npz", ".csv", ".idx")
TABLE_SUFFIXES = (".npz", ".csv", ".npy", ".idx")

PathLike = Union[str, "os.PathLike[str]"]
# A CSV column by header name or 0-based index (negative counts from the end), or several.
ColumnSelector = Union[str, int, Sequence[Union[str, int]]]


class DataError(NgcspecError):
    """A data set or data file that cannot be used as asked.

    ``message`` says what is wrong, ``hint`` how to fix it; both are kept apart so that the
    circuit loader can attach them to the located field that named the data.
    """

    def __init__(self, message: str, hint: str = ""):
        self.message = message
        self.hint = hint
        super().__init__(message + (f"\n    hint: {hint}" if hint else ""))


# --------------------------------------------------------------------------------------------
# Shipped data sets
# --------------------------------------------------------------------------------------------


class Field(NamedTuple):
    shape: tuple[int, ...]  # per sample
    dtype: str
    doc: str


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: Literal["classification", "regression"]
    description: str
    splits: Mapping[str, int]  # samples per split
    fields: Mapping[str, Field]
    n_classes: int | None = None
    image_shape: tuple[int, ...] | None = None  # how a row of x is laid out, for plots
    source: str = ""  # provenance, see ngcspec/datasets/LICENSES.md

    def __post_init__(self) -> None:
        # Frozen means frozen: the registry below is shared by every caller.
        object.__setattr__(self, "splits", MappingProxyType(dict(self.splits)))
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))


# The counts are also checked against the files by the tests, so this small table can answer
# dataset_info() (validation, `ngc`) without opening an archive.
_SHIPPED: Mapping[str, DatasetInfo] = MappingProxyType(
    {
        "digits": DatasetInfo(
            name="digits",
            task="classification",
            description="8x8 handwritten digits 0-9 (UCI), pixels scaled to [0, 1]",
            splits={"train": 1437, "test": 360, "all": 1797},
            fields={
                "x": Field((64,), "float32", "pixel counts / 16, row-major 8x8 image"),
                "y": Field((10,), "float32", "one-hot digit"),
                "label": Field((), "int32", "digit 0-9"),
            },
            n_classes=10,
            image_shape=(8, 8),
            source="UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak), "
            "CC BY 4.0, via scikit-learn",
        ),
        "diabetes": DatasetInfo(
            name="diabetes",
            task="regression",
            description="diabetes progression from 10 baseline variables, features "
            "mean-centred with unit L2 norm per column (as scikit-learn's load_diabetes)",
            splits={"train": 354, "test": 88, "all": 442},
            fields={
                "x": Field((10,), "float32", "standardised age, sex, bmi, bp, s1-s6"),
                "y": Field((1,), "float32", "disease progression after one year (25-346)"),
            },
            source='Efron, Hastie, Johnstone & Tibshirani (2004) "Least Angle Regression", '
            "via scikit-learn",
        ),
    }
)


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(_SHIPPED)


def dataset_info(name: str) -> DatasetInfo:
    """Splits, fields and task of a shipped data set, without loading it."""
    info = _SHIPPED.get(name)
    if info is None:
        near = suggest(name, _SHIPPED)
        raise DataError(
            f"unknown data set '{name}'; the shipped data sets are: {one_of(list(_SHIPPED))}"
            + (f"; {near}" if near else ""),
            hint="to use your own data, give a file instead (.npz or .csv)",
        )
    return info


@functools.lru_cache(maxsize=None)
def _stored(name: str) -> Mapping[str, np.ndarray]:
    # Cached, so every returned array is made read-only: a caller must never be able to change
    # what the next caller loads.
    with resources.files("ngcspec.datasets").joinpath(f"{name}.npz").open("rb") as fh:
        with np.load(fh, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    for arr in arrays.values():
        arr.flags.writeable = False
    return MappingProxyType(arrays)


def load_dataset(name: str, split: str = "all") -> dict[str, np.ndarray]:
    """The ``split`` (``train``, ``test`` or ``all``) of a shipped data set, as fresh arrays.

    Rows of ``train`` and ``test`` are in the order of ``all`` (ascending index); shuffling is
    the data stream's job.
    """
    info = dataset_info(name)
    if split not in SPLITS:
        near = suggest(split, SPLITS)
        raise DataError(
            f"unknown split '{split}' of data set '{name}'; choose one of: {one_of(SPLITS)}"
            + (f"; {near}" if near else "")
        )
    stored = _stored(name)
    rows = slice(None) if split == "all" else stored[f"{split}_index"].astype(np.intp)
    if name == "digits":
        label = stored["labels"][rows].astype(np.int32)
        return {
            "x": stored["pixels"][rows].astype(np.float32) / np.float32(16.0),
            "y": one_hot(label, info.n_classes or 10),
            "label": label,
        }
    if name == "diabetes":
        # Standardise over all 442 samples in float64 (scikit-learn's numbers), then split.
        raw = stored["features"]
        centred = raw - raw.mean(axis=0)
        x = centred / np.sqrt((centred**2).sum(axis=0))
        return {
            "x": x[rows].astype(np.float32),
            "y": stored["target"][rows].astype(np.float32)[:, None],
        }
    raise AssertionError(f"no loader for shipped data set {name!r}")  # _SHIPPED out of sync


def one_hot(label: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) integer classes -> (N, n_classes) float32 one-hot rows."""
    label = np.asarray(label)
    out = np.zeros((label.shape[0], n_classes), dtype=np.float32)
    out[np.arange(label.shape[0]), label] = 1.0
    return out


# --------------------------------------------------------------------------------------------
# User files
# --------------------------------------------------------------------------------------------


def _absolute(path: PathLike, base_dir: PathLike | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path(base_dir or Path.cwd()) / p
    try:
        return p.resolve()
    except (RuntimeError, OSError) as err:   # a symlink loop (RuntimeError before 3.13)
        raise DataError(f"cannot follow the path {p}: {err}",
                        hint="a symbolic link points back at itself; fix or remove it") from None


def resolve_path(path: PathLike, base_dir: PathLike | None = None) -> Path:
    """Absolute path of an existing data file; relative paths are taken from ``base_dir``
    (the folder of the circuit file) or, without one, from the current directory."""
    p = _absolute(path, base_dir)
    if not p.exists():
        where = (
            f"the folder of the circuit file ({Path(base_dir).resolve()})"
            if base_dir is not None
            else f"the current directory ({Path.cwd()}) when no circuit file is involved"
        )
        raise DataError(
            f"data file not found: {p}",
            hint=f"relative paths are resolved against {where}; check the spelling or give "
            "an absolute path",
        )
    if not p.is_file():
        raise DataError(f"data path is not a file: {p}", hint="name a .npy, .npz or .csv file")
    return p


def _checked_suffix(p: Path, allowed: Sequence[str], why: str = "") -> str:
    from ngcspec.idx import is_idx_name
    suffix = ".idx" if is_idx_name(p) else p.suffix.lower()
    if suffix not in allowed:
        raise DataError(
            f"unsupported data file type '{p.suffix or '(none)'}' for {p}; "
            f"expected {', '.join(allowed)}",
            hint=why
            or "save arrays with numpy.save (.npy) or numpy.savez (.npz), or a table as "
            "comma-separated numbers (.csv)",
        )
    return suffix


def load_array(
    path: PathLike, key: str | None = None, *, base_dir: PathLike | None = None
) -> np.ndarray:
    """One numeric array from a ``.npy``, ``.npz`` or ``.csv`` file.

    ``key`` picks the array of an ``.npz`` (needed when it holds more than one). ``.npy`` and
    ``.npz`` arrays keep their stored dtype; a ``.csv`` gives a 2-D float64 array (a first row
    that is all text is taken as the header and skipped).
    """
    p = _absolute(path, base_dir)
    suffix = _checked_suffix(p, ARRAY_SUFFIXES)
    p = resolve_path(p, base_dir)
    if suffix == ".csv":
        if key is not None:
            raise DataError(
                f"key='{key}' was given for {p}, but only .npz archives have keys",
                hint="for a .csv, use load_table to pick columns",
            )
        return _read_csv(p)[1]
    if suffix == ".idx":
        from ngcspec.idx import read_idx
        return read_idx(p)
    if suffix == ".npy":
        if key is not None:
            raise DataError(
                f"key='{key}' was given for {p}, but a .npy file holds one unnamed array",
                hint="drop the key, or save several arrays by name with numpy.savez (.npz)",
            )
        return _read_npy(p)
    with _open_npz(p) as archive:
        keys = list(archive.files)
        if key is None:
            if len(keys) != 1:
                raise DataError(
                    f"{p} holds {len(keys)} arrays ({one_of(keys) or 'none'}); "
                    "say which one to use",
                    hint="give the array's name as key",
                )
            key = keys[0]
        return _npz_member(archive, p, key)


def load_table(
    path: PathLike,
    *,
    x: ColumnSelector | None = None,
    y: ColumnSelector | None = None,
    label: ColumnSelector | None = None,
    base_dir: PathLike | None = None,
) -> dict[str, np.ndarray]:
    """A user data source as ``{"x", "y"?, "label"?}``, shaped like :func:`load_dataset`.

    ``.npz``: ``x``, ``y``, ``label`` name arrays of the archive (default: the arrays called
    ``x``, ``y`` and ``label``; ``y`` and ``label`` only if present). Samples are along the
    first axis; trailing axes of ``x`` are flattened (an (N, 28, 28) image stack becomes
    (N, 784)).

    Every other array of an ``.npz`` whose first axis has one entry per sample is kept
    under its own name with its shape (N, ...), to be clamped by name (``train.spikes``); an
    (N, T, ...) array clamped on a compartment of shape (...) is a per-sample stimulus.

    ``.npy`` and IDX files (MNIST's ``*-ubyte``, ``*.idx``, gzipped or not) hold the inputs:
    ``x`` is the array, samples first, trailing axes flattened (IDX bytes scaled to [0, 1]);
    ``y`` and ``label`` name further ``.npy``/IDX files (labels also give one-hot ``y``).

    ``.csv``: each one selects columns by header name or 0-based index (negative from the
    end), or a list of them; ``label`` is one column of class indices. ``x`` defaults to every
    column not taken by ``y`` or ``label``.
    """
    p = _absolute(path, base_dir)
    suffix = _checked_suffix(
        p,
        TABLE_SUFFIXES,
        why="save named arrays with numpy.savez(path, x=..., y=...), one array with "
        "numpy.save (.npy), a table as .csv, or give MNIST-format IDX files",
    )
    p = resolve_path(p, base_dir)
    if suffix == ".npz":
        raw = _table_from_npz(p, x=x, y=y, label=label)
    elif suffix in (".npy", ".idx"):
        raw = _table_from_arrays(p, suffix, y=y, label=label, base_dir=base_dir)
    else:
        raw = _table_from_csv(p, x=x, y=y, label=label)
    return _as_fields(p, raw)


# --- .npy / .npz ----------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _magic(p: Path, n: int) -> bytes:
    try:
        with open(p, "rb") as fh:
            return fh.read(n)
    except OSError as err:
        raise DataError(f"cannot read {p}: {err.strerror or err}") from None


def _refuse_objects(what: str) -> DataError:
    return DataError(
        f"{what} holds Python objects (an object array); ngcspec reads only numeric arrays "
        "and never unpickles data files, which could run code",
        hint="save a numeric array, e.g. numpy.save(path, arr.astype(numpy.float32)); text or "
        "ragged lists cannot be used as data",
    )


def _read_npy(p: Path) -> np.ndarray:
    if _magic(p, len(_NPY_MAGIC)) != _NPY_MAGIC:
        raise DataError(
            f"{p} is not a .npy file (it lacks the NumPy header)", hint="write it with numpy.save"
        )
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err):
            raise _refuse_objects(str(p)) from None
        raise DataError(f"cannot read {p}: {err}", hint="the file may be truncated") from None
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {p}: {err}", hint="the file may be truncated") from None
    return _check_numeric(arr, str(p))


def _open_npz(p: Path):
    if _magic(p, len(_ZIP_MAGIC)) != _ZIP_MAGIC:
        raise DataError(
            f"{p} is not a .npz archive (not a zip file)",
            hint="write it with numpy.savez(path, x=..., y=...)",
        )
    try:
        return np.load(p, allow_pickle=False)
    except Exception as err:  # zipfile raises several kinds for a damaged archive
        raise DataError(f"cannot read {p}: {err}", hint="the file may be truncated") from None


def _npz_member(archive, p: Path, key: str) -> np.ndarray:
    if not isinstance(key, str):
        raise DataError(
            f"arrays of an .npz are chosen by name, got {key!r} for {p}",
            hint=f"use one of: {one_of(archive.files)}",
        )
    if key not in archive.files:
        near = suggest(key, archive.files)
        raise DataError(
            f"no array '{key}' in {p}; it holds: {one_of(archive.files) or 'nothing'}"
            + (f"; {near}" if near else ""),
            hint="name one of the arrays it holds",
        )
    what = f"array '{key}' of {p}"
    try:
        arr = archive[key]
    except ValueError as err:
        if "pickle" in str(err):
            raise _refuse_objects(what) from None
        raise DataError(f"cannot read {what}: {err}") from None
    except Exception as err:
        raise DataError(f"cannot read {what}: {err}", hint="the file may be truncated") from None
    if not isinstance(arr, np.ndarray):  # a zip member that is not a .npy
        raise DataError(f"{what} is not a NumPy array", hint="write the archive with numpy.savez")
    return _check_numeric(arr, what)


def _check_numeric(arr: np.ndarray, what: str) -> np.ndarray:
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr
    if arr.dtype.hasobject:
        raise _refuse_objects(what)
    described = {
        "U": "text", "S": "bytes", "c": "complex numbers", "V": "structured records",
        "M": "dates", "m": "time spans",
    }.get(kind, "non-numeric values")
    raise DataError(
        f"{what} holds {described} (dtype {arr.dtype}); data must be real numbers",
        hint="convert it to a float or integer array before saving"
        + ("; save each record field as its own array in an .npz" if kind == "V" else ""),
    )


def _table_from_npz(p: Path, *, x, y, label) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with _open_npz(p) as archive:
        for name, chosen in (("x", x), ("y", y), ("label", label)):
            if chosen is None:
                if name != "x" and name not in archive.files:
                    continue  # optional fields are used when present
                if name == "x" and "x" not in archive.files:
                    if archive.files and all(k.isidentifier() for k in archive.files):
                        continue   # named arrays only, clamped by their names
                    raise DataError(
                        f"{p} has no array named 'x'; it holds: "
                        f"{one_of(archive.files) or 'nothing'}",
                        hint="name the input array with x=<name> (and y=, label= likewise), "
                        "or save it as numpy.savez(path, x=..., y=...)",
                    )
                chosen = name
            out[name] = _npz_member(archive, p, chosen)
        first = next(iter(out.values()), None)
        n = len(first) if first is not None and first.ndim else None
        for key in archive.files:   # every other array with one row per sample, by its name
            if key not in out and key.isidentifier():
                arr = _npz_member(archive, p, key)
                if arr.ndim >= 1 and len(arr) == (n if n is not None else len(arr)):
                    out[key] = arr
                    n = len(arr)
    return out


def _table_from_arrays(p: Path, suffix: str, *, y, label, base_dir) -> dict[str, np.ndarray]:
    """x from one .npy/IDX array (IDX bytes scaled to [0, 1]); y and label from files."""
    out = {"x": _scaled(load_array(p))}
    for name, other in (("y", y), ("label", label)):
        if other is None:
            continue
        if not isinstance(other, str):
            raise DataError(f"{name}: with a .npy or IDX source, {name} names a file, got {other!r}")
        out[name] = _scaled(load_array(other, base_dir=base_dir or p.parent)) if name == "y" \
            else load_array(other, base_dir=base_dir or p.parent)
    if "label" in out and "y" not in out and out["label"].ndim == 1 and out["label"].dtype.kind in "iu":
        out["y"] = one_hot(out["label"], int(out["label"].max()) + 1)
    return out


def _scaled(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float32) / np.float32(255.0) if arr.dtype == np.uint8 else arr


# --- .csv -----------------------------------------------------------------------------------


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# Complexity over 10 on purpose: each branch is one located error for a kind of malformed table
# (ragged row, text cell, empty file).
def _read_csv(p: Path) -> tuple[list[str] | None, np.ndarray]:  # noqa: C901
    """(header or None, values (rows, columns) float64) of a comma-separated numeric table."""
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        # utf-8-sig: spreadsheets often start the file with a byte-order mark.
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise DataError(f"{p} is not a UTF-8 text file", hint="export the table as CSV") from None
    except (OSError, csv.Error) as err:
        raise DataError(f"cannot read {p}: {err}") from None
    if not rows:
        raise DataError(f"{p} is empty", hint="a .csv needs at least one row of numbers")

    header: list[str] | None = None
    numeric = [_is_number(cell) for cell in rows[0]]
    if not any(numeric):
        header, rows, lines = rows[0], rows[1:], lines[1:]
    elif not all(numeric):
        col = numeric.index(False)
        raise DataError(
            f"{p} line {lines[0]}: the first row mixes numbers and text "
            f"('{rows[0][col]}' in column {col}), so it is neither a header nor data",
            hint="a header row must name every column; a data row must hold only numbers",
        )
    if not rows:
        raise DataError(f"{p} has a header but no data rows")

    width = len(header) if header is not None else len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise DataError(
                f"{p} line {line}: {len(row)} values, but the "
                f"{'header' if header is not None else 'first row'} has {width}",
                hint="every row needs one value per column (comma-separated)",
            )
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        # Find the first bad cell only on failure, so the common case stays one numpy call.
        for row, line in zip(rows, lines):
            for col, cell in enumerate(row):
                if not _is_number(cell):
                    name = f" ('{header[col]}')" if header is not None else ""
                    raise DataError(
                        f"{p} line {line}, column {col}{name}: "
                        + (f"non-numeric value '{cell}'" if cell else "empty value"),
                        hint="a .csv data file holds numbers only (plus an optional header "
                        "row); write missing values as nan",
                    ) from None
        raise  # pragma: no cover - numpy refused a table that float() accepts
    return header, values


def _column_indices(
    p: Path, header: list[str] | None, width: int, chosen: ColumnSelector, name: str
) -> list[int]:
    items = list(chosen) if isinstance(chosen, (list, tuple)) else [chosen]
    out: list[int] = []
    for item in items:
        if isinstance(item, np.integer):
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise DataError(
                f"{name}: columns are chosen by header name or 0-based index, got {item!r}"
            )
        if isinstance(item, str):
            if header is None:
                raise DataError(
                    f"{name}: column '{item}' asked by name, but {p} has no header row",
                    hint=f"choose columns by 0-based index (0..{width - 1}), or add a header",
                )
            if item not in header:
                near = suggest(item, header)
                raise DataError(
                    f"{name}: no column '{item}' in {p}; its columns are: {one_of(header)}"
                    + (f"; {near}" if near else "")
                )
            out.append(header.index(item))
        else:
            if not -width <= item < width:
                raise DataError(
                    f"{name}: column index {item} is out of range for {p}, which has "
                    f"{width} columns (0..{width - 1}, or negative from the end)"
                )
            out.append(item % width)
    if not out:
        raise DataError(f"{name}: the list of columns is empty")
    return out


def _table_from_csv(p: Path, *, x, y, label) -> dict[str, np.ndarray]:
    header, values = _read_csv(p)
    width = values.shape[1]
    chosen = {
        name: _column_indices(p, header, width, sel, name)
        for name, sel in (("y", y), ("label", label), ("x", x))
        if sel is not None
    }
    if "label" in chosen and len(chosen["label"]) != 1:
        raise DataError("label: choose exactly one column (the class index of each row)")
    if "x" not in chosen:
        taken = {c for cols in chosen.values() for c in cols}
        chosen["x"] = [c for c in range(width) if c not in taken]
        if not chosen["x"]:
            raise DataError(f"x: no columns of {p} are left for the input once y/label are taken")
    owner: dict[int, str] = {}
    for name, cols in chosen.items():
        for c in cols:
            if c in owner and owner[c] != name:
                col = f"'{header[c]}'" if header is not None else str(c)
                raise DataError(
                    f"column {col} of {p} is chosen for both {owner[c]} and {name}",
                    hint="each column feeds one field",
                )
            owner[c] = name
    return {
        name: values[:, cols[0]] if name == "label" else values[:, cols]
        for name, cols in chosen.items()
    }


# --- shaping --------------------------------------------------------------------------------


def _as_fields(p: Path, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bring user arrays to the shapes and dtypes of :func:`load_dataset`."""
    out: dict[str, np.ndarray] = {}
    for name in raw:
        arr = raw[name]
        if arr.ndim == 0:
            raise DataError(f"{name} in {p} is a single number; it needs one row per sample")
        if name == "label":
            if arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            if arr.ndim != 1:
                raise DataError(
                    f"label in {p} has shape {arr.shape}; it must be one class index per "
                    "sample, shape (N,)",
                    hint="for one-hot targets use y instead",
                )
            if arr.dtype.kind == "f" and not (
                np.isfinite(arr).all() and np.array_equal(arr, np.round(arr))
            ):
                raise DataError(f"label in {p} holds non-integer values; labels are class indices")
            if arr.size and arr.min() < 0:
                raise DataError(f"label in {p} holds negative values; classes count from 0")
            out[name] = arr.astype(np.int32)
            continue
        # x and y are rows of numbers; any other named array keeps its shape (N, ...)
        flat = arr.reshape(arr.shape[0], -1) if name in ("x", "y") else arr
        arr = flat.astype(np.float32)
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad.reshape(len(arr), -1))[0][0])
            raise DataError(
                f"{name} in {p} holds {int(bad.sum())} non-finite values (nan or inf), the "
                f"first in sample {row}",
                hint="drop or fill missing values before running a circuit on them",
            )
        out[name] = arr
    sizes = {name: arr.shape[0] for name, arr in out.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(
            f"the fields of {p} have different numbers of samples: "
            + ", ".join(f"{k} {v}" for k, v in sizes.items()),
            hint="x, y and label need one row per sample each",
        )
    return out


__all__ = [
    "ColumnSelector",
    "DataError",
    "DatasetInfo",
    "Field",
    "SPLITS",
    "dataset_info",
    "dataset_names",
    "load_array",
    "load_dataset",
    "load_table",
    "one_hot",
    "resolve_path",
]
