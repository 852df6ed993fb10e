"""Writes the spike trains (stimulus files, time first) of the dynamic-synapse examples.

    python circuits/data/make_dynamic_synapse_spikes.py

stp_spikes.npy (600, 2), dt = 1 ms: input 0 fires at 25 Hz (every 40 ms from t = 10 ms,
ten spikes) and once more at t = 560 ms (recovery probe); input 1 fires at 50 Hz (every
20 ms from t = 10 ms, twenty spikes) and at t = 560 ms.

conductance_spikes.npy (400, 2), dt = 0.25 ms (100 ms): input 0 fires once at t = 5 ms;
input 1 fires a burst of five spikes every 2 ms from t = 50 ms.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def stp_spikes() -> np.ndarray:
    s = np.zeros((600, 2), np.float32)
    s[10:410:40, 0] = 1.0
    s[10:410:20, 1] = 1.0
    s[560, :] = 1.0
    return s


def conductance_spikes(dt: float = 0.25) -> np.ndarray:
    s = np.zeros((int(round(100 / dt)), 2), np.float32)
    s[int(round(5 / dt)), 0] = 1.0
    for k in range(5):
        s[int(round((50 + 2 * k) / dt)), 1] = 1.0
    return s


if __name__ == "__main__":
    np.save(HERE / "stp_spikes.npy", stp_spikes())
    np.save(HERE / "conductance_spikes.npy", conductance_spikes())
