"""Reading a trained spiking circuit out: label neurons by their responses, then classify.

Diehl & Cook (2015) evaluate an unsupervised network without training any read-out: each
excitatory neuron is *assigned* the class to which it responded most on average over the
training samples, and a new sample is classified as the class whose assigned neurons fire
most on average in response to it. Both steps take spike counts per sample and neuron, e.g.
the ``per_batch`` record of a :class:`~ngcspec.components.spiking.SpikeCounter`:

    r = ngcspec.load("circuits/diehl_cook_digits.yaml").run()
    acc = evaluate(r.records["label/count.counts"][-1], train_labels,
                   r.records["test/count.counts"][-1], test_labels)

This module needs numpy only.
"""

from __future__ import annotations

import numpy as np


def assign_labels(counts, labels, n_classes: int | None = None) -> np.ndarray:
    """The class each neuron responds to most, on average over that class's samples.

    ``counts`` (n_samples, n_neurons) spike counts, ``labels`` (n_samples,) integer classes.
    Returns (n_neurons,) class indices; -1 for a neuron that never fired. Averaging per class
    (not summing) keeps unequal class sizes from biasing the assignment."""
    counts = np.asarray(counts, np.float64)
    labels = np.asarray(labels).astype(int).ravel()
    if counts.ndim != 2 or counts.shape[0] != labels.shape[0]:
        raise ValueError(f"counts must be (n_samples, n_neurons) with one label per sample; got "
                         f"{counts.shape} and {labels.shape[0]} labels")
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    mean = class_means(counts, labels, n_classes)                    # (n_classes, n_neurons)
    assigned = np.argmax(mean, axis=0)
    return np.where(counts.sum(axis=0) > 0, assigned, -1)


def class_means(counts, labels, n_classes: int) -> np.ndarray:
    """(n_classes, n_neurons): mean count of each neuron over the samples of each class."""
    counts = np.asarray(counts, np.float64)
    labels = np.asarray(labels).astype(int).ravel()
    sums = np.zeros((n_classes, counts.shape[1]))
    np.add.at(sums, labels, counts)
    n = np.bincount(labels, minlength=n_classes)[:, None]
    return sums / np.maximum(n, 1)


def classify(counts, assignments, n_classes: int) -> np.ndarray:
    """Predicted class per sample: the class whose assigned neurons fire most on average.

    ``counts`` (n_samples, n_neurons), ``assignments`` (n_neurons,) from :func:`assign_labels`.
    A class with no assigned neuron scores 0; ties go to the lowest class index."""
    counts = np.asarray(counts, np.float64)
    assignments = np.asarray(assignments).astype(int)
    scores = np.zeros((counts.shape[0], n_classes))
    for c in range(n_classes):
        members = assignments == c
        if members.any():
            scores[:, c] = counts[:, members].mean(axis=1)
    return np.argmax(scores, axis=1)


def evaluate(train_counts, train_labels, test_counts, test_labels,
             n_classes: int | None = None) -> float:
    """Accuracy on the test samples of the assignment made from the training responses."""
    test_labels = np.asarray(test_labels).astype(int).ravel()
    if n_classes is None:
        n_classes = int(max(np.max(train_labels), np.max(test_labels))) + 1
    assigned = assign_labels(train_counts, train_labels, n_classes)
    return float(np.mean(classify(test_counts, assigned, n_classes) == test_labels))
