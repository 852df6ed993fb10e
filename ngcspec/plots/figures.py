"""Figures without pyplot: each plot builds its own ``matplotlib.figure.Figure``, so nothing
is kept in matplotlib's global state and plotting never touches a display.

matplotlib is the optional ``plot`` extra; without it every entry point raises a
:class:`PlotError` that says how to install it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

from ngcspec.errors import NgcspecError

DEFAULT_SIZE = (6.4, 4.0)      # inches
DEFAULT_DPI = 100
FORMATS = ("png", "svg", "pdf")


class PlotError(NgcspecError):
    pass


def require_matplotlib():
    """The ``matplotlib.figure`` module, or a PlotError naming the extra to install."""
    try:
        import matplotlib
        from matplotlib import figure
    except ImportError:
        raise PlotError('plots need matplotlib, which is not installed; install the plot '
                        'extra: pip install -e ".[plot]" (or pip install matplotlib)') from None
    matplotlib.set_loglevel("warning")
    return figure


def new_figure(nrows: int = 1, ncols: int = 1, **subplots):
    """A constrained-layout figure and its axes (``fig.subplots`` arguments)."""
    figure = require_matplotlib()
    fig = figure.Figure(figsize=DEFAULT_SIZE, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **subplots)


def save(fig, path: Path, fmt: str = "png", size: tuple[float, float] | None = None,
         dpi: int = DEFAULT_DPI) -> Path:
    """Write ``fig`` at exactly ``size`` inches x ``dpi`` (no tight cropping, so an image
    has the size asked for)."""
    if size is not None:
        fig.set_size_inches(*size)
    path = Path(path)
    with _quiet_layout():
        fig.savefig(path, format=fmt, dpi=dpi)
    return path


@contextlib.contextmanager
def _quiet_layout():
    """matplotlib warns when a small figure leaves no room for constrained layout; the
    figure is still drawn (without it), so that is not worth a warning on every plot."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="constrained_layout not applied")
        yield


def png_bytes(fig, size: tuple[float, float] | None = None, dpi: int = DEFAULT_DPI) -> bytes:
    """``fig`` as PNG bytes (for embedding in a report)."""
    if size is not None:
        fig.set_size_inches(*size)
    buf = io.BytesIO()
    with _quiet_layout():
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
