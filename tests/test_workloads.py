"""The two recognised spiking workloads: the COBA benchmark and Diehl & Cook on the digits.

Both committed circuits run here in full (COBA: 1 s of biological time, a few seconds;
Diehl & Cook: two epochs, ~15 s), with the published or required numbers as bounds; the
evaluation helpers (label neurons by their responses, classify) are checked by hand first.
"""

from pathlib import Path

import numpy as np
import pytest

import ngcspec
from ngcspec.data import load_dataset
from ngcspec.evaluation import assign_labels, class_means, classify, evaluate

ROOT = Path(__file__).resolve().parents[1]
COBA = ROOT / "circuits" / "coba.yaml"
DIEHL_COOK = ROOT / "circuits" / "diehl_cook_digits.yaml"


# ---------------------------------------------------------------------------------------------
# Evaluation helpers

def test_assign_labels_by_mean_response_and_classify_by_assigned_groups():
    counts = np.array([[5, 0, 1, 0],      # class 0
                       [3, 1, 0, 0],      # class 0
                       [0, 4, 0, 0],      # class 1
                       [1, 0, 0, 0],      # class 2 (only neuron 0 answers a little)
                       [0, 0, 2, 0]])     # class 2
    labels = np.array([0, 0, 1, 2, 2])
    np.testing.assert_allclose(class_means(counts, labels, 3)[:, 0], [4, 0, 0.5])
    assigned = assign_labels(counts, labels, 3)
    np.testing.assert_array_equal(assigned, [0, 1, 2, -1])          # neuron 3 never fired
    test = np.array([[0, 3, 0, 9], [2, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(classify(test, assigned, 3), [1, 0, 2, 0])
    assert evaluate(counts, labels, test, [1, 0, 2, 1], 3) == 0.75


def test_assignment_averages_per_class_so_class_size_does_not_win():
    # neuron 0 fires 1 spike for each of 10 class-0 samples, 3 for the single class-1 one
    counts = np.array([[1]] * 10 + [[3]])
    labels = np.array([0] * 10 + [1])
    assert assign_labels(counts, labels, 2)[0] == 1
    with pytest.raises(ValueError, match="one label per sample"):
        assign_labels(counts, labels[:-1], 2)


# ---------------------------------------------------------------------------------------------
# COBA

@pytest.mark.slow
def test_coba_is_sparse_and_runs_in_the_asynchronous_irregular_range():
    circuit = ngcspec.load(COBA)
    comps = circuit.resolved.components
    assert {rc.kind.kind for rc in comps.values()} == {"SparseExponentialSynapse", "LIFCell",
                                                        "SpikeCounter"}
    # connection lists, never a 4000 x 4000 matrix
    assert comps["exc"].shapes["targets"] == (3200, comps["exc"].params.slots) and \
        comps["exc"].params.slots < 200
    r = circuit.run()
    rate = r.final_metrics()["run"]["rate"]
    counts = r.records["run/count.counts"].reshape(-1)
    assert 10.0 <= rate <= 25.0                                     # Hz (1 s of activity)
    np.testing.assert_allclose(counts.mean(), rate, rtol=1e-6)
    rate_e, rate_i = counts[:3200].mean(), counts[3200:].mean()
    assert 10.0 <= rate_e <= 25.0 and 10.0 <= rate_i <= 25.0
    # most neurons take part, none is locked at the refractory limit (200 Hz)
    assert np.mean(counts > 0) > 0.8 and counts.max() < 180


# ---------------------------------------------------------------------------------------------
# Diehl & Cook

def _digits_labels():
    return load_dataset("digits", "train")["label"], load_dataset("digits", "test")["label"]


@pytest.mark.slow
def test_reduced_diehl_cook_learns_something_quickly():
    text = DIEHL_COOK.read_text()
    text = (text.replace("shuffle: true}", "shuffle: true, limit: 300}")
            .replace("repeat: 150", "repeat: 100").replace("advance: 300", "advance: 150")
            .replace("epochs: 2", "epochs: 1").replace("every: 2", "every: 1"))
    r = ngcspec.load(text).run()
    train, test = _digits_labels()
    counts = r.records["label/count.counts"][-1]
    assert counts.shape == (1437, 100) and counts.sum() > 1437     # the layer answers
    acc = evaluate(counts, train, r.records["test/count.counts"][-1], test)
    soft = r.final_metrics()["test"]["accuracy"]
    assert acc > 0.5 and soft > 0.5                                  # chance is 0.1


@pytest.mark.slow
def test_diehl_cook_digits_reaches_80_percent_on_the_held_out_digits():
    r = ngcspec.load(DIEHL_COOK).run()
    train, test = _digits_labels()
    label_counts = r.records["label/count.counts"][-1]
    test_counts = r.records["test/count.counts"][-1]
    acc = evaluate(label_counts, train, test_counts, test)            # Diehl & Cook's read-out
    soft = r.final_metrics()["test"]["accuracy"]                     # the circuit's metric
    assert acc >= 0.80 and soft >= 0.80, (acc, soft)
    # every neuron found a class, and the layer covers all ten
    assigned = assign_labels(label_counts, train, 10)
    assert (assigned >= 0).all() and len(np.unique(assigned)) == 10
    # learning shaped the weights: columns keep the L1 norm of the normalize step
    w = np.asarray(r.state["W1"]["weights"])
    np.testing.assert_allclose(np.abs(w).sum(axis=0), 25.0, rtol=1e-4)
