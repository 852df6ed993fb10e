"""Reading the user's files for the resolver, and remembering which ones were read.

The resolver never opens a file itself: it is handed a :class:`Loader`, which reads arrays
(initial values, clamps, stimuli) and data sources relative to the circuit's folder and
records every user file it read (``Resolved.files``: run directories copy them, so a run can
be repeated from its folder alone). Problems come back as :class:`ngcspec.data.DataError`
with a message and a hint, which the resolver locates in the circuit file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ngcspec.errors import one_of, suggest

if TYPE_CHECKING:
    import numpy as np

    from ngcspec.spec import DataSource


class Loader:
    """Reads files named in one circuit, relative to ``base_dir`` (the circuit's folder)."""

    def __init__(self, base_dir: str | Path):
        self.base_dir = base_dir
        self.files: dict[str, Path] = {}      # each user file read: name as written -> path

    def array(self, name: str, key: str | None = None) -> np.ndarray:
        """One array from a .npy/.npz/.csv/IDX file (``key``: the array of an .npz)."""
        from ngcspec import data

        arr = data.load_array(name, key, base_dir=self.base_dir)
        self._read(name)
        return arr

    def data_source(self, ds: DataSource) -> dict[str, np.ndarray]:
        """The arrays of a data source (field -> (N, ...)): a shipped data set or a file."""
        from ngcspec import data

        if ds.dataset is not None:
            names = data.dataset_names()
            if ds.dataset not in names:
                raise data.DataError(f"unknown data set '{ds.dataset}'", suggest(ds.dataset, names)
                                     or f"shipped data sets: {one_of(names)}")
            return data.load_dataset(ds.dataset, ds.split)
        arrays = data.load_table(ds.file, x=ds.x, y=ds.y, label=ds.label, base_dir=self.base_dir)
        self._read(ds.file)
        if Path(ds.file).suffix.lower() not in (".npz", ".csv"):
            for other in (ds.y, ds.label):      # label/target files of .npy/IDX data
                if isinstance(other, str):
                    self._read(other)
        return arrays

    def _read(self, name: str) -> None:
        from ngcspec import data

        self.files[name] = data.resolve_path(name, self.base_dir)
