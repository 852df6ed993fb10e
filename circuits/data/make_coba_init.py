"""Writes coba_init.npz: the random initial state of circuits/coba.yaml.

As in Brette et al. (2007), benchmark 1 (their Brian script): membrane potentials
v = -60 + (5 N(0, 1) - 5) mV, excitatory conductances ge = 4 + 1.5 N(0, 1) and inhibitory
ones gi = 20 + 12 N(0, 1), in units of the leak conductance, independently per neuron.
Excitatory cells are 0..3199, inhibitory ones 3200..3999; ge is the g_syn of the synapse
from the E cells, gi that of the synapse from the I cells (both onto all 4000).

    python circuits/data/make_coba_init.py
"""

from pathlib import Path

import numpy as np

N = 4000

rng = np.random.default_rng(2005)
v = -60.0 + (5.0 * rng.standard_normal(N) - 5.0)
ge = 4.0 + 1.5 * rng.standard_normal(N)
gi = 20.0 + 12.0 * rng.standard_normal(N)
arrays = {"v": v, "ge": ge, "gi": gi}
np.savez(Path(__file__).with_name("coba_init.npz"),
         **{k: a.astype(np.float32) for k, a in arrays.items()})
