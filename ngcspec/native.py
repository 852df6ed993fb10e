"""Native CPU kernels of the event-driven paths (``native_kernels.cc``), called through the
XLA FFI.

On XLA:CPU a spike step is a chain of small operations (compacting the spikes with
``top_k``, gathers, scatters, dynamic slices) that each cost microseconds however few spikes
there are; the C++ kernels scan the spike flags and touch only the rows, columns or
connection lists of the units that spiked, in one call. Each kernel has an XLA twin in
:mod:`ngcspec.components.events` with the same results (up to the order of float sums): a
program uses the kernel only where it is lowered for the CPU (``lax.platform_dependent``),
so the same circuit runs on GPUs and TPUs through the twin, and where no kernel library can
be built the twin runs on the CPU too.

The library is compiled on first use with the system C++ compiler (``$CXX``, else ``c++``,
``g++`` or ``clang++``) against jaxlib's FFI headers, for the CPU it runs on
(``-march=native``), and cached as ``$XDG_CACHE_HOME/ngcspec/native/<key>.so`` (else
``~/.cache/...``, else the temporary directory), the key covering the source, jaxlib's
version, the compiler and the CPU: later processes load it in milliseconds. It is written
under a temporary name and renamed into place, so concurrent builds never see half a file.
``NGCSPEC_NATIVE=off`` (or ``0``) turns the kernels off; :func:`status` says whether they
are in use and, if not, why.

Members: under ``jax.vmap`` (a sweep's members) every argument is broadcast to the same
leading member axes (``vmap_method="broadcast_all"``) and one kernel call runs each member
on its own slices, rather than one call per member.

Derivatives: the transmission kernels are wrapped in ``custom_jvp`` rules that take the
tangent of the XLA twin, so ``jax.grad`` and ``jax.jvp`` through an event-driven synapse work
as on the dense path; the STDP kernels (evolve) are not differentiated.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ngcspec.lazy import jax, jnp, lax

SOURCE = Path(__file__).with_name("native_kernels.cc")
#: Kernels in SOURCE, each exported as ngc_<name>_f32 and ngc_<name>_f64.
KERNELS = ("spike_rows", "spike_scatter", "spike_scatter_unit", "trace_stdp", "exp_stdp",
           "event_stdp")
#: The STDP kernels and the coefficients each reads, in the order native_kernels.cc reads
#: them; callers name them (:func:`stdp_coefficients`). The trace and exp kernels take
#: A_minus as max(A_minus, 0); power_law is 1.0 or 0.0.
STDP_COEFFICIENTS = {
    "trace_stdp": ("A_plus", "A_minus", "eta", "mu", "x_tar", "w_bound", "tau_w", "power_law"),
    "exp_stdp": ("A_plus", "A_minus", "eta", "beta", "x_tar", "w_bound", "tau_w"),
    "event_stdp": ("A_plus", "A_minus", "eta", "lmbda", "w_bound"),
}
#: Compiler flags: tuned for this CPU (GCC and clang spell it -mcpu on ARM), no fast-math
#: (NaNs must propagate to the finite check), but no errno or FP traps, so loops vectorise.
FLAGS = ("-O3", "-mcpu=native" if platform.machine().lower() in ("arm64", "aarch64")
         else "-march=native", "-fno-trapping-math", "-fno-math-errno", "-std=c++17",
         "-shared", "-fPIC", "-w")
ENV = "NGCSPEC_NATIVE"


class NativeUnavailable(RuntimeError):
    """The kernel library could not be built or loaded (the message says why)."""


def enabled() -> bool:
    """False when ``$NGCSPEC_NATIVE`` turns the kernels off."""
    return os.environ.get(ENV, "").strip().lower() not in ("off", "0", "false", "no")


@contextlib.contextmanager
def disabled():
    """Within the block, programs traced use the XLA twins (``NGCSPEC_NATIVE=off``); for
    comparisons and benchmarks. Programs keep the path they were traced with."""
    old = os.environ.get(ENV)
    os.environ[ENV] = "off"
    try:
        yield
    finally:
        if old is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = old


def available() -> bool:
    """True when programs traced now use the kernels on the CPU (built, loaded, enabled)."""
    if not enabled():
        return False
    return not isinstance(_library(), NativeUnavailable)


def status(load: bool = True) -> str:
    """One line: whether the kernels are in use, and the library or the reason they are not.
    ``load`` False: "not loaded" unless this process has already loaded (or tried) them."""
    if not enabled():
        return f"off ({ENV}={os.environ[ENV]})"
    if not load and _library.cache_info().currsize == 0:
        return "not loaded"
    lib = _library()
    return f"unavailable: {lib}" if isinstance(lib, NativeUnavailable) else f"on ({lib[1]})"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_identity() -> str:
    """What -march=native depends on: the machine and, on Linux, the CPU's feature flags."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()} {flags}"


def _cache_dirs() -> list[Path]:
    """Where the library is cached: the user's cache, else a per-user temporary folder."""
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    user = os.getuid() if hasattr(os, "getuid") else 0
    return [Path(base) / "ngcspec" / "native",
            Path(tempfile.gettempdir()) / f"ngcspec-native-{user}"]


@functools.cache
def _library() -> tuple[ctypes.CDLL, Path] | NativeUnavailable:
    """The loaded library and its path, or why there is none; tried once per process, and a
    failure is said once on stderr (the slower path would otherwise go unnoticed)."""
    try:
        return _load()
    except NativeUnavailable as err:
        failed = err
    except (ImportError, AttributeError) as err:       # a jax without the FFI API
        failed = NativeUnavailable(f"this jax has no FFI API ({err})")
    if jax.default_backend() == "cpu":
        print(f"ngcspec: the native CPU kernels are unavailable ({failed}); event-driven "
              f"synapses run on their XLA path, about 3x slower (BENCHMARKS.md section 5). "
              f"Set {ENV}=off to choose that path without this message.", file=sys.stderr)
    return failed


def _load() -> tuple[ctypes.CDLL, Path]:
    """Build (once per key) and load the kernel library, and register its FFI targets."""
    import jaxlib

    cxx = _compiler()
    if cxx is None:
        raise NativeUnavailable("no C++ compiler found (set CXX); the XLA paths run instead")
    include = jax.ffi.include_dir()
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, jaxlib.__version__.encode(), cxx.encode(),
                                     " ".join(FLAGS).encode(), _cpu_identity().encode()]))
    name = f"ngcspec_kernels_{key.hexdigest()[:20]}.so"
    errors = []
    for folder in _cache_dirs():
        path = folder / name
        try:
            if not path.exists():
                _build(cxx, include, folder, path)
            lib = ctypes.CDLL(str(path))
            break
        except (OSError, subprocess.SubprocessError, NativeUnavailable) as err:
            errors.append(f"{folder}: {err}")
    else:
        raise NativeUnavailable("; ".join(errors))
    for kernel in KERNELS:
        for suffix in ("f32", "f64"):
            symbol = f"ngc_{kernel}_{suffix}"
            jax.ffi.register_ffi_target(symbol, jax.ffi.pycapsule(getattr(lib, symbol)),
                                        platform="cpu")
    return lib, path


def _build(cxx: str, include: str, folder: Path, path: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=folder)
    os.close(fd)
    try:
        done = subprocess.run([cxx, *FLAGS, f"-I{include}", str(SOURCE), "-o", tmp],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise NativeUnavailable(f"{Path(cxx).name} failed: {done.stderr.strip()[-400:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------
# Calling the kernels

def _target(kernel: str, dtype) -> str:
    """The FFI target of ``kernel`` for ``dtype``, the library loaded and registered."""
    suffix = {"float32": "f32", "float64": "f64"}.get(jnp.dtype(dtype).name)
    if suffix is None:
        raise TypeError(f"native kernels take float32 or float64, not {jnp.dtype(dtype)}")
    lib = _library()
    if isinstance(lib, NativeUnavailable):
        raise lib
    return f"ngc_{kernel}_{suffix}"


def on_cpu(kernel: Callable, twin: Callable, *args, differentiable: bool = True):
    """``kernel(*args)`` in programs lowered for the CPU, ``twin(*args)`` elsewhere (and
    everywhere when the kernels are unavailable or the floats are neither float32 nor float64).
    ``differentiable``: derivatives are the twin's (a ``custom_jvp``); the kernel and the
    twin must then close over nothing traced."""
    floats = [a.dtype for a in jax.tree.leaves(args) if jnp.issubdtype(a.dtype, jnp.floating)]
    if not available() or any(jnp.dtype(d).name not in ("float32", "float64") for d in floats):
        return twin(*args)

    def call(*args):
        return lax.platform_dependent(*args, cpu=kernel, default=twin)

    if not differentiable:
        return call(*args)
    call = jax.custom_jvp(call)

    @call.defjvp
    def call_jvp(primals, tangents):
        return call(*primals), jax.jvp(twin, primals, tangents)[1]

    return call(*args)


def spike_rows(x, w):
    """``x @ w`` (B, n_in) @ (n_in, n_out) by the kernel: the rows of ``w`` of the nonzero
    entries of each sample, summed."""
    x = x.astype(w.dtype)
    out = jax.ShapeDtypeStruct((x.shape[0], w.shape[1]), w.dtype)
    return jax.ffi.ffi_call(_target("spike_rows", w.dtype), out,
                            vmap_method="broadcast_all")(x, w)


def spike_scatter(x, targets, weights, n_out: int, row_start: int = 0):
    """Connection lists: ``out[b, targets[i, s]] += x[b, row_start + i] weights[i, s]`` for
    the nonzero entries of ``x`` (B, n_x), by the kernel; a row ends at its first target
    outside [0, n_out). ``weights`` None: every weight is 1 (only the targets are read).
    ``x`` may have more units than the lists have rows (it is read in place)."""
    dt = x.dtype if weights is None else weights.dtype
    x = x.astype(dt)
    out = jax.ShapeDtypeStruct((x.shape[0], n_out), dt)
    args = (x, targets.astype(jnp.int32)) + (() if weights is None else (weights,))
    kernel = "spike_scatter" if weights is not None else "spike_scatter_unit"
    return jax.ffi.ffi_call(_target(kernel, dt), out, vmap_method="broadcast_all")(
        *args, row_start=np.int64(row_start))


def stdp(rule: str, w, mask, pre_spike, pre_factor, post_spike, post_factor, coef):
    """One STDP evolve by the kernel ``rule`` (a key of :data:`STDP_COEFFICIENTS`; the rules
    are stated in ``native_kernels.cc``): new weights, computed in place over the rows of pre
    spikes and the columns of post spikes (every weight while a decay is on). Per weight the
    rule reads sum_b pre_factor s_post, sum_b s_post and sum_b s_pre post_factor. ``coef``
    is what :func:`stdp_coefficients` gives for ``rule``."""
    if jnp.shape(coef)[-1:] != (len(STDP_COEFFICIENTS[rule]),):
        raise ValueError(f"{rule} takes the {len(STDP_COEFFICIENTS[rule])} coefficients "
                         f"{STDP_COEFFICIENTS[rule]} (stdp_coefficients), not {jnp.shape(coef)}")
    dt = w.dtype
    args = [a.astype(dt) for a in (w, mask, pre_spike, pre_factor, post_spike, post_factor,
                                   jnp.asarray(coef))]
    return jax.ffi.ffi_call(_target(rule, dt), jax.ShapeDtypeStruct(w.shape, dt),
                            input_output_aliases={0: 0}, vmap_method="broadcast_all")(*args)


def stdp_coefficients(rule: str, **named):
    """The coefficients of the kernel ``rule``, given by name (the names of
    :data:`STDP_COEFFICIENTS`), as one array in the order the kernel reads them."""
    names = STDP_COEFFICIENTS[rule]
    if set(named) != set(names):
        missing, unknown = set(names) - set(named), set(named) - set(names)
        raise TypeError(f"{rule} takes the coefficients {', '.join(names)}"
                        + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                        + (f"; unknown {', '.join(sorted(unknown))}" if unknown else ""))
    return jnp.stack([jnp.asarray(named[n]) for n in names])
