"""Data sets shipped with ngcspec (read through :mod:`ngcspec.data`; see LICENSES.md)."""
