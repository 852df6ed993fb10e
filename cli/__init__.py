"""The ``ngc`` command (installed as ``ngcspec.cli``)."""
