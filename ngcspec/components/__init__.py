"""The component library: importing this package registers every kind."""

from ngcspec.components import graded, synapses  # noqa: F401
