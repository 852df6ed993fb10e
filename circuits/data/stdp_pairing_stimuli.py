"""Writes the spike trains of circuits/stdp_pairing.yaml (run from anywhere).

One pre-synaptic unit spikes once, at step PRE_STEP; post-synaptic unit k spikes once, at
step PRE_STEP + LAGS[k] (negative lags: the post spike comes first). Rows are steps (dt = 1
ms), columns units; a BernoulliCell turns these 0/1 probabilities into the same spikes.
"""

from pathlib import Path

import numpy as np

STEPS = 60
PRE_STEP = 30
LAGS = (-20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20)   # post spike time minus pre spike time (ms)


def pairing_trains():
    pre = np.zeros((STEPS, 1), np.float32)
    pre[PRE_STEP, 0] = 1.0
    post = np.zeros((STEPS, len(LAGS)), np.float32)
    for k, lag in enumerate(LAGS):
        post[PRE_STEP + lag, k] = 1.0
    return pre, post


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    pre, post = pairing_trains()
    np.save(here / "stdp_pairing_pre.npy", pre)
    np.save(here / "stdp_pairing_post.npy", post)
