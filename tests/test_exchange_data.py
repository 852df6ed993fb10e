"""Data brought from elsewhere: named .npz arrays, per-sample stimuli, IDX and .npy images,
inline weights. Expected values are computed here from the arrays the test writes."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import ngcspec
from ngcspec.data import DataError, load_array, load_table
from ngcspec.idx import read_idx, write_idx


def _run(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return ngcspec.load(path).run()


def test_named_arrays_and_per_sample_stimuli_stay_paired(tmp_path):
    """spikes (N, T, 3) drive a counter step by step, each sample its own train; reward (N, 1)
    is clamped beside it. Shuffled batches of 2 keep every sample's arrays together."""
    rng = np.random.default_rng(0)
    n, steps = 6, 5
    spikes = (rng.uniform(size=(n, steps, 3)) < 0.5).astype(np.float32)
    reward = np.arange(n, dtype=np.float32)[:, None] * 10.0
    np.savez(tmp_path / "rec.npz", spikes=spikes, reward=reward)
    result = _run(tmp_path, f"""
ngcspec: 1
name: named
data:
  train: {{file: rec.npz, batch_size: 2, shuffle: true}}
components:
  count: {{kind: SpikeCounter, n_units: 3}}
  r: {{kind: RateCell, n_units: 1, tau_m: 0.0}}
clamps: {{count.inputs: train.spikes, r.j: train.reward}}
schedule: [reset, {{advance: {steps}}}]
run: {{epochs: 2, record: {{count.counts: per_step, r.zF: per_batch}}}}
""")
    per_step = result.records["run/count.counts"]      # (epochs, steps, samples, 3)
    seen = result.records["run/r.zF"][..., 0]          # (epochs, samples): which sample
    assert per_step.shape == (2, steps, n, 3)
    for epoch in range(2):
        order = (seen[epoch] / 10.0).astype(int)
        assert sorted(order) == list(range(n))
        np.testing.assert_array_equal(per_step[epoch], np.cumsum(spikes[order], axis=1).transpose(1, 0, 2))
    assert not np.array_equal(seen[0], seen[1])     # reshuffled per epoch, still paired


def test_per_sample_stimulus_shorter_than_schedule_is_located(tmp_path):
    np.savez(tmp_path / "rec.npz", spikes=np.zeros((4, 3, 2), np.float32))
    (tmp_path / "c.yaml").write_text("""
ngcspec: 1
name: short
data:
  train: {file: rec.npz, batch_size: 2}
components:
  count: {kind: SpikeCounter, n_units: 2}
clamps: {count.inputs: train.spikes}
schedule: [reset, {advance: 5}]
""")
    with pytest.raises(ngcspec.CircuitError) as err:
        ngcspec.load(tmp_path / "c.yaml")
    p = err.value.problems[0]
    assert p.path == "clamps.count.inputs" and "3 time steps per sample" in p.message
    assert p.line == 8


def test_idx_images_and_labels_by_path(tmp_path):
    """A small MNIST-format pair written here: 5 images of 3x2 bytes and their labels."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 3, 2), dtype=np.uint8)
    labels = np.array([3, 0, 2, 2, 1], np.uint8)
    write_idx(tmp_path / "imgs-idx3-ubyte", images)
    write_idx(tmp_path / "labels.idx.gz", labels, compress=True)
    # the header as the format states it: 0, 0, type 0x08, 3 dims, then 5, 3, 2 big-endian
    assert (tmp_path / "imgs-idx3-ubyte").read_bytes()[:16] == bytes(
        [0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 2])
    assert gzip.decompress((tmp_path / "labels.idx.gz").read_bytes())[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 5])
    np.testing.assert_array_equal(read_idx(tmp_path / "imgs-idx3-ubyte"), images)
    table = load_table("imgs-idx3-ubyte", label="labels.idx.gz", base_dir=tmp_path)
    np.testing.assert_array_equal(table["x"], images.reshape(5, 6) / np.float32(255))
    np.testing.assert_array_equal(table["label"], labels)
    np.testing.assert_array_equal(table["y"], np.eye(4, dtype=np.float32)[labels])
    result = _run(tmp_path, """
ngcspec: 1
name: idx
data:
  train: {file: imgs-idx3-ubyte, label: labels.idx.gz, batch_size: 5}
components:
  x: {kind: RateCell, n_units: 6, tau_m: 0.0}
  y: {kind: RateCell, n_units: 4, tau_m: 0.0}
clamps: {x.j: train.x, y.j: train.y}
schedule: [reset, advance]
phases:
  train:
    data: train
    metrics: {acc: {accuracy: y.zF}}
    record: {x.zF: final}
""")
    np.testing.assert_array_equal(result.records["train/x.zF"], images.reshape(5, 6) / np.float32(255))
    assert result.metrics["train"][-1]["acc"] == 1.0   # the one-hot y points at every label


def test_idx_damage_is_a_data_error(tmp_path):
    write_idx(tmp_path / "a.idx", np.zeros((4, 2), np.float32))
    (tmp_path / "b.idx").write_bytes((tmp_path / "a.idx").read_bytes()[:-3])
    with pytest.raises(DataError, match="header promises"):
        load_array(tmp_path / "b.idx")
    (tmp_path / "c.idx").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="not an IDX file"):
        load_array(tmp_path / "c.idx")


def test_npy_images_by_path(tmp_path):
    images = np.random.default_rng(2).normal(size=(4, 2, 3)).astype(np.float32)
    np.save(tmp_path / "imgs.npy", images)
    result = _run(tmp_path, """
ngcspec: 1
name: npy
data:
  train: {file: imgs.npy, batch_size: 4}
components:
  x: {kind: RateCell, n_units: 6, tau_m: 0.0}
clamps: {x.j: train.x}
schedule: [reset, advance]
run: {record: {x.zF: final}}
""")
    np.testing.assert_array_equal(result.records["run/x.zF"], images.reshape(4, 6))


def test_inline_weights(tmp_path):
    result = _run(tmp_path, """
ngcspec: 1
name: inline
components:
  W: {kind: StaticSynapse, shape: [2, 3], init: {weights: [[1, 2, 3], [4, 5, 6]], biases: [0.5, 0, 0]}}
clamps: {W.inputs: {constant: [1.0, -1.0]}}
schedule: [reset, advance]
run: {record: {W.outputs: final}}
""")
    # [1, -1] @ [[1, 2, 3], [4, 5, 6]] + [0.5, 0, 0]
    np.testing.assert_array_equal(result.records["run/W.outputs"], [[-2.5, -3.0, -3.0]])


def test_inline_weights_of_the_wrong_shape_are_located(tmp_path):
    (tmp_path / "c.yaml").write_text("""
ngcspec: 1
name: inline
components:
  W: {kind: StaticSynapse, shape: [2, 3], init: {weights: [[1, 2], [3]]}}
schedule: [reset, advance]
""")
    with pytest.raises(ngcspec.CircuitError) as err:
        ngcspec.load(tmp_path / "c.yaml")
    p = err.value.problems[0]
    assert p.path == "components.W.init.weights" and "rectangular" in p.message
