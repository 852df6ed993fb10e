"""Numbers a circuit gives: NaN anywhere in the file, arrays written inline or read from files."""

from __future__ import annotations

import numpy as np

from ngcspec.checks.collector import Collector
from ngcspec.errors import NgcspecError
from ngcspec.loader import Loader
from ngcspec.spec import FileClamp, StimulusClamp
from ngcspec.yamlsrc import format_path


def check_nan(col: Collector, node, path: tuple = (), reported: set | None = None) -> None:
    """NaN is never a meaningful value in a circuit file (it would poison the state). Run
    after the typed checks, which may have said so already at the same place."""
    if reported is None:
        reported = {p.path for p in col.problems}
    if isinstance(node, float) and node != node or \
            isinstance(node, str) and node.strip().lower() in ("nan", "+nan", "-nan"):
        if format_path(path) not in reported:
            col.fail(path, "NaN (.nan) is not a valid value", "write a number")
    elif isinstance(node, dict):
        for k, v in node.items():
            check_nan(col, v, path + (k,), reported)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            check_nan(col, v, path + (i,), reported)


def file_array(col: Collector, loader: Loader, path: tuple,
               ref: FileClamp | StimulusClamp) -> np.ndarray | None:
    """The finite numeric array a ``{file: ...}`` or ``{stimulus: ...}`` names, or None after
    reporting why it cannot be used."""
    fname = ref.file if isinstance(ref, FileClamp) else ref.stimulus
    try:
        arr = loader.array(fname, ref.key)
    except NgcspecError as exc:
        col.fail(path, getattr(exc, "message", str(exc)), getattr(exc, "hint", ""))
        return None
    if arr.dtype.kind not in "biuf":
        col.fail(path, f"{fname} holds {arr.dtype} values; numbers are needed")
        return None
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        first = f" (first at index {list(map(int, bad[0]))}: {arr[tuple(bad[0])]})" if arr.ndim else ""
        col.fail(path, f"{fname} contains {len(bad)} NaN or Inf value(s){first}",
                 "initial values and clamps must be finite numbers; clean the array first")
        return None
    return arr


def inline_array(col: Collector, path: tuple, value: list) -> np.ndarray | None:
    """Numbers written in the file as a nested list (``init: {weights: [[...]]}``)."""
    arr = numeric_list(value)
    if arr is None or arr.dtype.kind not in "biuf":
        col.fail(path, "an inline value must be a rectangular nested list of numbers",
                 "every row needs the same length; give larger arrays as {file: ...}")
        return None
    if not np.all(np.isfinite(arr)):
        col.fail(path, "an inline value must hold finite numbers (no .inf or .nan)")
        return None
    return arr


def numeric_list(v) -> np.ndarray | None:
    """A nested list as a float array, or None when it is not one (ragged, text, too deep)."""
    try:
        return np.asarray(v, dtype=float)
    except (TypeError, ValueError, OverflowError, RuntimeError):  # ragged, text, > 32 dims
        return None


def broadcastable(a, b) -> bool:
    """Whether an array of shape ``a`` broadcasts to exactly ``b``."""
    a, b = tuple(a), tuple(b)
    if len(a) > len(b):
        return False
    return all(x == 1 or x == y for x, y in zip(reversed(a), reversed(b)))
