"""Run directories: what ``ngc run`` writes and ``ngcspec.load_run`` reads back.

    runs/<name>/<timestamp>[-k]/
        circuit.yaml     the circuit as run (overrides and the seed applied)
        records.npz      recorded arrays, "phase/component.compartment"
        checkpoint.npz   the state the next epoch starts from, "component.compartment"
        end_state.npz    the state at the end of the run, when phases forced at the last
                         epoch (``every:``) changed it; otherwise that is checkpoint.npz
        summary.json     metrics per epoch, the epochs each phase ran at, timings, versions,
                         seed, order, the circuit's fingerprint and the input files' checksums
        <inputs>         a copy of every file the circuit read, at the path it names (files
                         outside the circuit's folder go to inputs/ and the copy is renamed)

A run directory is self-contained: it loads and resumes after the circuit's folder is moved
or deleted. It is assembled under a hidden temporary name next to its final place, guarded
by a lock, and renamed into place when complete; the final name is taken atomically (two
runs finishing in the same second get ``stamp`` and ``stamp-1``). A temporary left by a
killed run is removed by the next run that writes there. When writing fails (a full disk,
a file-size limit) the temporary is kept under a ``.partial-`` name and named in the error.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ngcspec import native
from ngcspec.errors import NgcspecError, RunError

RUN_FILES = ("circuit.yaml", "records.npz", "checkpoint.npz", "summary.json")
_INCOMPLETE = ".incomplete-"
_STALE_AFTER_S = 60.0     # a temporary without a lock is only taken as stale when this old


class RunWriteError(RunError):
    """Writing a run directory failed; what was written is kept at ``kept``."""

    def __init__(self, message: str, kept: Path | None = None):
        super().__init__(message)
        self.kept = kept


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _flat(state: dict) -> dict[str, np.ndarray]:
    return {f"{c}.{p}": np.asarray(v) for c, comp in state.items() for p, v in comp.items()}


# --------------------------------------------------------------------------------------------
# where runs go


def prepare_output(out_root: str | os.PathLike, name: str) -> Path:
    """The folder run directories of circuit ``name`` go to, checked before any work:
    created if missing, refused with a message if it is a file or cannot be written. Stale
    temporaries of killed runs are removed."""
    out_root = Path(out_root)
    root = out_root / safe_name(name)
    for p in (out_root, root):
        if p.exists() and not p.is_dir():
            raise RunError(f"--out: {p} is a file, not a folder; give a folder for the run "
                           "directories (it is created if missing)")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f"{_INCOMPLETE}probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise RunError(f"--out: cannot write run directories in {root}: "
                       f"{exc.strerror or exc}; choose another folder with --out") from None
    clean_stale(root)
    return root


def clean_stale(root: Path) -> list[Path]:
    """Remove temporaries of runs that died while writing (their lock is free); returns them."""
    removed = []
    now = time.time()
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for p in entries:
        if not p.name.startswith(".") or not p.is_dir() or p.is_symlink():
            continue
        if p.name.startswith(_INCOMPLETE):
            if _lock_is_free(p.with_name(p.name + ".lock"), p, now):
                shutil.rmtree(p, ignore_errors=True)
                p.with_name(p.name + ".lock").unlink(missing_ok=True)
                removed.append(p)
        elif _old_style_temporary(p.name) and now - _mtime(p) > _STALE_AFTER_S:
            shutil.rmtree(p, ignore_errors=True)     # '.STAMP.xxxx' of earlier versions
            removed.append(p)
    return removed


def _old_style_temporary(name: str) -> bool:
    stamp = name[1:].split(".", 1)[0]
    return len(stamp) >= 15 and stamp[:8].isdigit() and stamp[8] == "-" and stamp[9:15].isdigit()


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _lock_is_free(lock: Path, tmp: Path, now: float) -> bool:
    try:
        import fcntl
    except ImportError:          # no advisory locks (Windows): leave temporaries alone
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:    # the lock is taken before the folder is made
        return now - _mtime(tmp) > _STALE_AFTER_S
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False             # held: a run is writing there now
    finally:
        os.close(fd)             # closing releases a lock this call took


class _Temporary:
    """A hidden folder to assemble a run in, held by an advisory lock while it lives."""

    def __init__(self, root: Path, stamp: str):
        self.path = root / f"{_INCOMPLETE}{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lock = self.path.with_name(self.path.name + ".lock")
        self.fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            import fcntl
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:
            pass
        self.path.mkdir()

    def release(self) -> None:
        self.lock.unlink(missing_ok=True)
        os.close(self.fd)


def _publish(tmp: Path, root: Path, stamp: str) -> Path:
    """Rename ``tmp`` to the first free name ``stamp``, ``stamp-1``, ...; atomic per try."""
    for n in range(10_000):
        final = root / (stamp if n == 0 else f"{stamp}-{n}")
        if final.exists() or final.is_symlink():
            continue
        try:
            os.rename(tmp, final)
            return final
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                continue          # another run took this name between the check and rename
            raise
    raise RunError(f"no free run directory name for {stamp} in {root}")


# --------------------------------------------------------------------------------------------
# writing


def write_run(result, resolved, out_root: str | os.PathLike = "runs",
              extra: dict | None = None) -> Path:
    """Write a :class:`~ngcspec.circuit.RunResult` atomically; returns the directory."""
    from ngcspec.resume import fingerprint

    root = prepare_output(out_root, resolved.spec.name)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tmp = _Temporary(root, stamp)
    try:
        inputs, renamed = _copy_inputs(resolved, tmp.path)
        raw = _rewrite_paths(resolved.raw, renamed)
        if isinstance(raw, dict) and raw.get("seed", None) != result.seed:
            raw = {**raw, "seed": result.seed}      # the circuit as run reruns this run
        (tmp.path / "circuit.yaml").write_text(
            yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        _save_npz(tmp.path / "records.npz", {k: np.asarray(v) for k, v in result.records.items()})
        _save_npz(tmp.path / "checkpoint.npz", _flat(result.continuation))
        if result.resume_state is not None:
            _save_npz(tmp.path / "end_state.npz", _flat(result.state))
        summary = {
            "name": resolved.spec.name,
            "source": str(resolved.file),
            "seed": result.seed,
            "epochs": result.epochs,
            "start_epoch": result.start_epoch,
            "dtype": resolved.spec.dtype,
            "order": list(resolved.order),
            "metrics": result.metrics,
            "phase_epochs": result.phase_epochs,
            "forced": result.forced,
            "final_metrics": result.final_metrics(),
            "timings": result.timings,
            "records": {k: list(np.shape(v)) for k, v in result.records.items()},
            "inputs": inputs,
            "fingerprint": fingerprint(resolved),
            "versions": _versions(),
            **(extra or {}),
        }
        (tmp.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float),
                                               encoding="utf-8")
        final = _publish(tmp.path, root, stamp)
    except OSError as exc:
        kept = tmp.path.with_name(".partial-" + tmp.path.name[len(_INCOMPLETE):])
        try:
            os.rename(tmp.path, kept)
        except OSError:
            kept = tmp.path
        where = f" ({exc.filename})" if exc.filename else ""
        raise RunWriteError(
            f"could not write the run directory in {root}: {exc.strerror or exc}{where}\n"
            f"    what was written is kept in {kept}\n    {_write_hint(exc)}", kept) from None
    except BaseException:
        shutil.rmtree(tmp.path, ignore_errors=True)
        raise
    finally:
        tmp.release()
    return final


def _write_hint(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        return "free disk space (or raise the file-size limit) and run again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the folder writable, or choose another with --out, and run again"
    if exc.errno == errno.ENOENT:
        return ("an input file of the circuit was moved or deleted while it ran; put it "
                "back, or load the circuit from its new place, and run again")
    return "fix the cause above and run again"


def _copy_inputs(resolved, dest: Path) -> tuple[dict, dict[str, str]]:
    """Copy every file the circuit read into ``dest``; returns their record (path in the
    run directory -> source, sha256, bytes) and the names that had to change."""
    inputs: dict[str, dict] = {}
    renamed: dict[str, str] = {}
    for written, source in getattr(resolved, "files", ()):
        rel = Path(written)
        if rel.is_absolute() or ".." in rel.parts or rel.as_posix() in RUN_FILES \
                or rel.as_posix() == "end_state.npz":
            rel = Path("inputs") / source.name
            n = 1
            while rel.as_posix() in inputs:
                rel = Path("inputs") / f"{source.stem}-{n}{source.suffix}"
                n += 1
            renamed[written] = rel.as_posix()
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = _copy_hashing(source, target)
        inputs[rel.as_posix()] = {"source": str(source), "sha256": digest, "bytes": size}
    return inputs, renamed


def _copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    """Copy ``source`` and return its sha256 and size; a file that changes while it is
    copied is an error (the copy would match neither version)."""
    h = hashlib.sha256()
    size = 0
    before = _signature(source)
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    if _signature(source) != before or size != before[0]:
        raise RunError(f"{source} changed while it was copied into the run directory; "
                       "rerun once nothing writes to it")
    return h.hexdigest(), size


def _signature(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_size, st.st_mtime_ns


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _rewrite_paths(node: Any, renamed: dict[str, str]) -> Any:
    """``node`` with every text value that names a renamed input replaced by its new name."""
    if not renamed:
        return node
    if isinstance(node, dict):
        return {k: _rewrite_paths(v, renamed) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_paths(v, renamed) for v in node]
    if isinstance(node, str) and node in renamed:
        return renamed[node]
    return node


def safe_name(name: str) -> str:
    """A circuit's name as a folder name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).lstrip(".") \
        or "circuit"


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("ngcspec", "jax", "jaxlib", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    out["native_kernels"] = native.status(load=False)
    if hasattr(os, "sched_getaffinity"):
        out["cpus"] = len(os.sched_getaffinity(0))      # the cores this process ran on
    return out


# --------------------------------------------------------------------------------------------
# reading


@dataclass
class RunData:
    """A run read back from disk. ``state`` is what the next epoch starts from (what a
    resume continues); ``end_state`` the state at the end of the run."""

    path: Path
    summary: dict[str, Any]
    records: dict[str, np.ndarray]
    state: dict[str, dict[str, np.ndarray]]
    circuit_yaml: str
    end_state: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    resolved: Any = None        # the saved circuit, resolved (when loaded with check=True)

    def __post_init__(self):
        if not self.end_state:
            self.end_state = self.state

    @property
    def metrics(self) -> dict:
        return self.summary.get("metrics", {})


def latest(path: str | os.PathLike) -> Path:
    """``path`` itself, or, for a folder of runs such as ``runs/<name>`` (no summary.json of
    its own), its newest run directory (stamps sort by time; ``stamp-1`` after ``stamp``)."""
    path = Path(path)
    if not path.is_dir() or (path / "summary.json").exists():
        return path
    runs = sorted(p for p in path.iterdir() if not p.name.startswith(".")
                  and (p / "summary.json").is_file())
    return runs[-1] if runs else path


def load_run(run_dir: str | os.PathLike, check: bool = True) -> RunData:
    """Read a run directory (or the newest in a folder of runs, see :func:`latest`); with
    ``check``, the copied input files are checked against their recorded checksums and the
    state against the compartments of its circuit."""
    path = latest(run_dir)
    if not path.is_dir():
        raise RunError(f"{path} is not a run directory" + (
            "" if path.exists() else " (it does not exist)"))
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise RunError(f"{path} is not a complete run directory (missing {', '.join(missing)})")
    summary = _read_json(path / "summary.json")
    records = _read_npz(path / "records.npz")
    state = _unflatten(_read_npz(path / "checkpoint.npz"))
    end = path / "end_state.npz"
    end_state = _unflatten(_read_npz(end)) if end.is_file() else {}
    text = _read_text(path / "circuit.yaml")
    resolved = None
    if check:
        _check_inputs(path, summary)
        resolved = check_state(state, text, path)
    return RunData(path, summary, records, state, text, end_state, resolved)


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}") from None


def _read_json(p: Path) -> dict:
    try:
        summary = json.loads(_read_text(p))
    except ValueError as exc:
        raise RunError(f"{p} is not valid JSON ({exc}); the run directory is damaged") from None
    if not isinstance(summary, dict):
        raise RunError(f"{p} does not hold a run summary; the run directory is damaged")
    return summary


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz written by this module; a damaged archive is a RunError."""
    if not p.is_file():
        raise RunError(f"{p} is not a regular file; the run directory is damaged")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise RunError(f"cannot read {p}: it is damaged or truncated ({type(exc).__name__}: "
                       f"{exc}); rerun, or resume from an earlier run directory") from None


def _unflatten(flat: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    state: dict[str, dict[str, np.ndarray]] = {}
    for k, v in flat.items():
        comp, _, part = k.partition(".")
        state.setdefault(comp, {})[part] = v
    return state


def _check_inputs(path: Path, summary: dict) -> None:
    for rel, info in (summary.get("inputs") or {}).items():
        p = path / rel
        if not p.is_file():
            raise RunError(f"{path}: the input file {rel} the run read is missing from its "
                           "run directory")
        try:
            digest = _sha256(p)
        except OSError as exc:
            raise RunError(f"cannot read {p}: {exc.strerror or exc}") from None
        if digest != info.get("sha256"):
            raise RunError(f"{p} was changed after the run (its checksum differs from the "
                           "one recorded in summary.json); restore it, or rerun")


def check_state(state: dict, circuit_text: str, where: Path):
    """Compare a checkpoint with the compartments its circuit declares; returns the
    resolved circuit."""
    from ngcspec.resolve import resolve
    from ngcspec.yamlsrc import load_yaml

    try:
        resolved = resolve(load_yaml(circuit_text, str(where / "circuit.yaml")), where)
    except NgcspecError as exc:
        raise RunError(f"the circuit saved in {where} no longer validates:\n{exc}") from None
    problems = []
    float_dtype = np.dtype(resolved.spec.dtype)
    for name, rc in resolved.components.items():
        if name not in state:
            problems.append(f"{name}: missing from the checkpoint")
            continue
        for cname, c in rc.kind.compartments.items():
            arr = state[name].get(cname)
            if arr is None:
                problems.append(f"{name}.{cname}: missing from the checkpoint")
                continue
            want = tuple(rc.shapes[cname])
            got = arr.shape[1:] if c.batched else arr.shape
            if tuple(got) != want:
                problems.append(f"{name}.{cname}: shape {arr.shape}, expected "
                                f"{'(batch, ' + ', '.join(map(str, want)) + ')' if c.batched else want}")
            expected_dtype = np.dtype("int32") if c.integer else float_dtype
            if arr.dtype != expected_dtype:
                problems.append(f"{name}.{cname}: dtype {arr.dtype}, expected {expected_dtype}")
    if problems:
        raise RunError(f"checkpoint in {where} does not match its circuit:\n  " + "\n  ".join(problems))
    return resolved


def load_checkpoint_into(state: dict, run: RunData, program) -> dict:
    """Persistent compartments (weights, optimiser state) of a run over ``state``, for
    ``--resume-weights-only``; batched ones are averaged over the run's batch."""
    out = {}
    for name, comp in state.items():
        s = dict(comp)
        kind = program.comps[name].kind
        for cname, c in kind.compartments.items():
            if c.persistent and name in run.state and cname in run.state[name]:
                arr = run.state[name][cname]
                want = tuple(s[cname].shape[1:] if c.batched else s[cname].shape)
                got = tuple(arr.shape[1:] if c.batched else arr.shape)
                if got != want:
                    raise RunError(f"--resume-weights-only: {name}.{cname} has shape {got} in "
                                   f"the run, {want} in the circuit")
                s[cname] = arr if not c.batched else np.broadcast_to(arr.mean(0, keepdims=True),
                                                                     s[cname].shape).astype(arr.dtype)
        out[name] = s
    return out


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
