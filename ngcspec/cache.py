"""JAX's persistent compilation cache for the ``ngc`` command.

Compiling a circuit costs seconds on a CPU; running it again with new numbers (``--set``,
another seed, more epochs) yields the same XLA program, which the cache then loads from disk.
The cache lives in ``$NGCSPEC_CACHE_DIR``, else ``$XDG_CACHE_HOME/ngcspec/xla``, else
``~/.cache/ngcspec/xla``; ``NGCSPEC_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path | None:
    env = os.environ.get("NGCSPEC_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "ngcspec" / "xla"


def enable_compilation_cache() -> Path | None:
    """Point JAX at the cache directory; returns it (None when off or not writable)."""
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path
