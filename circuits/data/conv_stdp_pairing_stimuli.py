"""Writes the spike trains of circuits/conv_stdp_pairing.yaml (run from anywhere).

5 x 5 single-channel images. Input pixel (2, 2) spikes once, at step PRE_STEP; output pixel
(2 + da, 2 + dc) of its 3 x 3 neighbourhood spikes once, at step PRE_STEP + LAGS[da + 1][dc + 1]
(negative lags: the post spike comes first); no other pixel spikes. Arrays are (steps, 5, 5, 1)
(dt = 1 ms); a BernoulliCell of shape [5, 5, 1] turns these 0/1 probabilities into the same
spikes.
"""

from pathlib import Path

import numpy as np

STEPS = 60
PRE_STEP = 30
PRE_PIXEL = (2, 2)
#: post spike time minus pre spike time (ms) at output pixel PRE_PIXEL + (da, dc)
LAGS = ((-20, -10, -5),
        (-2, 0, 2),
        (5, 10, 20))


def pairing_images():
    pre = np.zeros((STEPS, 5, 5, 1), np.float32)
    pre[PRE_STEP, PRE_PIXEL[0], PRE_PIXEL[1], 0] = 1.0
    post = np.zeros((STEPS, 5, 5, 1), np.float32)
    for da in (-1, 0, 1):
        for dc in (-1, 0, 1):
            post[PRE_STEP + LAGS[da + 1][dc + 1], PRE_PIXEL[0] + da, PRE_PIXEL[1] + dc, 0] = 1.0
    return pre, post


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    pre, post = pairing_images()
    np.save(here / "conv_stdp_pairing_pre.npy", pre)
    np.save(here / "conv_stdp_pairing_post.npy", post)
