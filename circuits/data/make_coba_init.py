"""Writes coba_init.npz: the random initial state of circuits/coba.yaml.

As in Brette et al. (2007), benchmark 1 (their Brian script): membrane potentials
v = -60 + (5 N(0, 1) - 5) mV, excitatory conductances ge = 4 + 1.5 N(0, 1) and inhibitory
ones gi = 20 + 12 N(0, 1), in units of the leak conductance, independently per neuron.
Excitatory cells are 0..3199, inhibitory ones 3200..3999; ge of a cell is the g_syn of the
synapse from E onto its population, gi that of the synapse from I.

    python circuits/data/make_coba_init.py
"""

from pathlib import Path

import numpy as np

N, N_E = 4000, 3200

rng = np.random.default_rng(2005)
v = -60.0 + (5.0 * rng.standard_normal(N) - 5.0)
ge = 4.0 + 1.5 * rng.standard_normal(N)
gi = 20.0 + 12.0 * rng.standard_normal(N)
arrays = {"v_e": v[:N_E], "v_i": v[N_E:], "ge_e": ge[:N_E], "ge_i": ge[N_E:],
          "gi_e": gi[:N_E], "gi_i": gi[N_E:]}
np.savez(Path(__file__).with_name("coba_init.npz"),
         **{k: a.astype(np.float32) for k, a in arrays.items()})
