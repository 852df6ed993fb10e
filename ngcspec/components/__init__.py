"""The component library: importing this package registers every kind."""

from ngcspec.components import graded, synapses  # noqa: F401
from ngcspec.components import dynamic_synapses, patched  # noqa: F401
from ngcspec.components import spiking, stdp  # noqa: F401
from ngcspec.components import convolution, events, sparse_synapses  # noqa: F401
from ngcspec.components import shaping  # noqa: F401
