"""Plots held to the data they draw: dots against recorded spikes, the rate curve's area
against the spike count, receptive-field tiles against the weight columns, metric curves
against summary.json, the confusion matrix against scikit-learn's; files of the requested
size and format that are not blank; clear errors without matplotlib or for unknown plots.

One small spiking circuit (Poisson digits -> trace STDP -> LIF) is run once for the module.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import ngcspec
from ngcspec.plots import PlotError, plan, plot_run, select
from ngcspec.plots import curves, spikes, weights
from ngcspec.plots.context import RunView
from ngcspec.rundir import write_run

pytest.importorskip("matplotlib")

SMALL_STDP = """
ngcspec: 1
name: small-stdp
dt: 0.5
seed: 1
data:
  train: {dataset: digits, split: train, batch_size: 4, limit: 16, shuffle: true}
  test: {dataset: digits, split: test, batch_size: 30, limit: 30}
components:
  p: {kind: PoissonCell, n_units: 64, target_freq: 200.0}
  W: {kind: TraceSTDPSynapse, shape: [64, 10], A_plus: 0.01, A_minus: 0.001,
      weight_init: {dist: uniform, low: 0.0, high: 1.0}}
  z: {kind: LIFCell, n_units: 10, tau_m: 20.0, resist_m: 20.0, thr: -55.0, v_rest: -65.0,
      v_reset: -65.0, refract_time: 2.0, tau_theta: 0.0}
  trp: {kind: VarTrace, n_units: 64, tau_tr: 20.0, a_delta: 0.0}
  trz: {kind: VarTrace, n_units: 10, tau_tr: 20.0, a_delta: 0.0}
  count: {kind: SpikeCounter, n_units: 10}
wires:
  - p.outputs ~> W.inputs
  - W.outputs -> z.j
  - p.outputs -> trp.inputs
  - z.s -> trz.inputs
  - p.outputs -> W.preSpike
  - trp.outputs -> W.preTrace
  - z.s -> W.postSpike
  - trz.outputs -> W.postTrace
  - z.s -> count.inputs
phases:
  train:
    data: train
    clamps: {p.inputs: train.x}
    schedule: [reset, {repeat: 40, do: [advance, {evolve: [W]}]}]
    metrics: {mean_count: {mean: count.counts}}
    record: {W.weights: initial}
  test:
    data: test
    every: 2
    clamps: {p.inputs: test.x}
    schedule: [reset, {advance: 80}]
    metrics: {accuracy: {accuracy: count.counts}, mean_count: {mean: count.counts}}
    record: {z.s: spike_times, z.v: per_step, count.counts: per_batch}
run: {epochs: 3}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    circuit = ngcspec.load(SMALL_STDP)
    result = circuit.run()
    return write_run(result, circuit.resolved, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def view(run_dir):
    return RunView.load(run_dir)


def _rec(view, key):
    return next(r for r in view.records if r.key == key)


def _last_epoch(spike_rows):
    return spike_rows[spike_rows[:, 0] == spike_rows[:, 0].max()]


@pytest.mark.slow
def test_raster_has_one_dot_per_recorded_spike(view):
    rec = _rec(view, "test/z.s")
    fig = spikes.raster(view, rec)
    last = _last_epoch(rec.array)
    assert last[0, 0] == 2                       # the test phase ran in epochs 2 and 3
    shown = np.unique(last[:, 2])[:spikes.MAX_SAMPLES_SHOWN]
    axes = [ax for ax in fig.axes if ax.collections]
    assert len(axes) == len(shown) == 4
    for ax, sample in zip(axes, shown):
        dots = ax.collections[0].get_offsets()
        mine = last[last[:, 2] == sample]
        assert len(dots) == len(mine) > 0
        np.testing.assert_allclose(np.sort(dots[:, 0]), np.sort(mine[:, 1] * 0.5))  # ms
        assert ax.get_xlabel() == "time (ms)"


@pytest.mark.slow
def test_rate_curve_integrates_to_the_spike_count(view):
    rec = _rec(view, "test/z.s")
    fig = spikes.population_rate(view, rec, window_ms=5.0)
    t, hz = fig.axes[0].lines[0].get_data()
    n_spikes = len(_last_epoch(rec.array))
    # Hz x seconds = spikes per unit and sample; 10 units, 30 samples, dt 0.5 ms
    area = np.sum(hz) * 0.5 / 1000.0
    assert area * 10 * 30 == pytest.approx(n_spikes, rel=1e-9)
    assert np.allclose(np.diff(t), 0.5)
    assert fig.axes[0].get_ylabel() == "population rate (Hz)"


def test_isi_histogram_counts_every_interval(view):
    rec = _rec(view, "test/z.s")
    last = _last_epoch(rec.array)
    trains = {}
    for _, step, sample, unit in last:
        trains.setdefault((sample, unit), []).append(step)
    expect = sorted(d * 0.5 for steps in trains.values() for d in np.diff(sorted(steps)))
    np.testing.assert_allclose(np.sort(spikes.intervals(last, 0.5)), expect)
    fig = spikes.isi_histogram(view, rec)
    assert sum(p.get_height() for p in fig.axes[0].patches) == len(expect)


def test_receptive_fields_are_the_weight_columns_as_8x8_images(view):
    w = view.weights()["W"]
    assert view.pre_image_shape("W") == (8, 8)   # the digits declare their image shape
    fig = weights.receptive_fields(view, "W", w)
    grid = fig.axes[0].images[0].get_array()
    cols = int(np.ceil(np.sqrt(10)))
    for j in range(10):
        np.testing.assert_array_equal(weights.tile_at(grid, j, cols, (8, 8)),
                                      w[:, j].reshape(8, 8))


def test_conv_kernels_give_one_tile_per_channel_pair():
    k = np.arange(3 * 3 * 2 * 4, dtype=float).reshape(3, 3, 2, 4)
    t = weights.tiles(k, None)
    assert len(t) == 8
    np.testing.assert_array_equal(t[3], k[:, :, 1, 1])     # out channel 1, in channel 1


def test_weight_change_is_end_minus_start(view):
    w = view.weights()["W"]
    start = view.initial_weights("W")
    assert start is not None and not np.array_equal(start, w)      # it learned
    fig = weights.weight_change(view, "W", w)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), w - start)


def test_metric_curves_are_the_numbers_of_summary_json(view, run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    fig = curves.metric_curves(view)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.lines}
    assert set(panels) == {"mean_count", "accuracy"}
    lines = {line.get_label(): line for line in panels["mean_count"].lines}
    np.testing.assert_array_equal(lines["train"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["train"].get_ydata(),
                                  [m["mean_count"] for m in summary["metrics"]["train"]])
    np.testing.assert_array_equal(lines["test"].get_xdata(), [2, 3])      # every: 2, and last
    np.testing.assert_array_equal(lines["test"].get_ydata(),
                                  [m["mean_count"] for m in summary["metrics"]["test"]])


@pytest.mark.slow
def test_confusion_matrix_matches_scikit_learn(view):
    from sklearn.metrics import confusion_matrix

    _, pred, labels = curves.predictions(view, "test")
    counts = view.run.records["test/count.counts"][-1]
    np.testing.assert_array_equal(pred, counts.argmax(axis=1))
    fig = curves.confusion(view, "test")
    got = fig.axes[0].images[0].get_array()
    expect = confusion_matrix(labels, pred, labels=range(got.shape[0]))
    np.testing.assert_array_equal(got, expect)
    acc = view.summary["final_metrics"]["test"]["accuracy"]
    assert np.trace(expect) / len(labels) == pytest.approx(acc)
    assert f"accuracy {acc:.3f}" in fig.axes[0].get_title()


def test_voltage_series_draws_the_threshold_in_mV(view):
    fig = curves.time_series(view, _rec(view, "test/z.v"))
    ax = fig.axes[0]
    thr = [line for line in ax.lines if line.get_label().startswith("threshold")]
    assert len(thr) == 1 and set(thr[0].get_ydata()) == {-55.0}
    assert ax.get_ylabel() == "z.v (mV)"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(),
                                  view.run.records["test/z.v"][-1, :, 0, 0])


def test_titles_name_circuit_compartment_and_seed(view):
    for job in plan(view):
        fig = job.draw()
        if fig is None:
            continue
        title = fig.get_suptitle() or fig.axes[0].get_title()
        assert "small-stdp" in title and "seed 1" in title, (job.stem, title)


@pytest.mark.slow
def test_files_have_the_requested_size_format_and_are_not_blank(run_dir, tmp_path):
    import matplotlib.image as mpimg

    written = plot_run(run_dir, ["raster", "receptive_fields"], tmp_path, "png", (5.0, 3.0), 40)
    assert sorted(p.name for p in written) == ["raster_z.s.png", "receptive_fields_W.png"]
    for p in written:
        img = mpimg.imread(p)
        assert img.shape[:2] == (120, 200)                   # 3 x 40, 5 x 40 pixels
        assert img[..., :3].std() > 0.05                     # not one flat colour
    svg = plot_run(run_dir, ["metrics"], tmp_path, "svg")[0]
    assert svg.name == "metrics.svg" and "<svg" in svg.read_text()[:500]
    pdf = plot_run(run_dir, ["weights:W"], tmp_path, "pdf")[0]
    assert pdf.name == "weights_W.pdf" and pdf.read_bytes()[:5] == b"%PDF-"


@pytest.mark.slow
def test_default_plots_go_into_the_run_directory(run_dir):
    names = {p.name for p in plot_run(run_dir)}
    assert {"metrics.png", "raster_z.s.png", "rate_z.s.png", "isi_z.s.png", "rate_hist_z.s.png",
            "series_z.v.png", "receptive_fields_W.png", "weights_W.png", "weight_change_W.png",
            "confusion_test.png"} == names
    assert all((run_dir / "plots" / n).is_file() for n in names)


def test_unknown_plot_names_say_what_exists(view):
    jobs = plan(view)
    with pytest.raises(PlotError, match="did you mean 'raster'"):
        select(jobs, ["rastr"])
    with pytest.raises(PlotError, match="did you mean 'z.s'"):
        select(jobs, ["raster:zs"])
    with pytest.raises(PlotError, match="unknown plot 'histo'"):
        select(jobs, ["histo:z.s"])
    assert [j.stem for j in select(jobs, ["z.v"])] == ["series_z.v"]


def test_without_matplotlib_the_error_names_the_extra(run_dir, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib fails
    with pytest.raises(PlotError, match=r'pip install -e "\.\[plot\]"'):
        plot_run(run_dir)


def test_cli_plot_errors_exit_1_without_a_traceback(run_dir, capsys):
    from ngcspec.cli.app import main

    for args, code in ((["plot", str(run_dir), "rastr"], 1), (["plot", str(run_dir), "--size", "3"], 2),
                       (["plot", str(run_dir / "nope")], 1)):
        sys_argv = sys.argv
        sys.argv = ["ngc", *args]
        try:
            with pytest.raises(SystemExit) as info:
                main()
        finally:
            sys.argv = sys_argv
        assert info.value.code == code, args
        printed = capsys.readouterr().err
        assert "Traceback" not in printed and printed.strip()


POISSON_SWEEP = """
ngcspec: 1
name: poisson-sweep
dt: 1.0
components:
  p: {kind: PoissonCell, n_units: 50, target_freq: 100.0}
  count: {kind: SpikeCounter, n_units: 50}
wires: [p.outputs -> count.inputs]
phases:
  run:
    batches: 1
    batch_size: 2
    clamps: {p.inputs: {constant: 1.0}}
    schedule: [reset, {advance: 100}]
    metrics: {mean_count: {mean: count.counts}}
"""


@pytest.mark.slow
def test_sweep_plot_shows_the_mean_over_seeds_with_their_spread(tmp_path):
    import csv

    from ngcspec.sweepdir import write_sweep

    circuit = ngcspec.load(POISSON_SWEEP)
    result = circuit.sweep(params={"p.target_freq": [20.0, 100.0, 400.0]}, seeds=range(3))
    sweep_dir = write_sweep(result, circuit.resolved, tmp_path)
    (path,) = plot_run(sweep_dir)
    assert path.name == "sweep_run.mean_count_vs_p.target_freq.png"
    with open(sweep_dir / "members.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    freqs = [20.0, 100.0, 400.0]
    per = {f: [float(r["run.mean_count"]) for r in rows if float(r["p.target_freq"]) == f]
           for f in freqs}
    assert all(len(v) == 3 for v in per.values())
    for f in freqs:       # a Poisson cell at f Hz fires f x 100 ms / 1000 times on average
        assert np.mean(per[f]) == pytest.approx(f * 0.1, rel=0.15)
    from ngcspec.plots import sweep_plan
    from ngcspec.sweepdir import load_sweep

    (job,) = sweep_plan(load_sweep(sweep_dir))
    ax = job.draw().axes[0]
    bars = ax.containers[0]                      # the errorbar container
    x, y = bars.lines[0].get_data()
    np.testing.assert_allclose(np.asarray(x, float), freqs)
    np.testing.assert_allclose(np.asarray(y, float), [np.mean(per[f]) for f in freqs])
    segments = bars.lines[2][0].get_segments()   # one vertical bar per point: mean -/+ std
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in segments],
                               [2 * np.std(per[f], ddof=1) for f in freqs], rtol=1e-9)
    assert "seeds 0-2" in ax.get_title() and ax.get_xlabel() == "p.target_freq"


def test_tiles_of_a_multichannel_image_are_its_channels():
    w = np.random.default_rng(0).normal(size=(4 * 4 * 2, 3))
    t = weights.tiles(w, (4, 4, 2))
    assert len(t) == 6                                    # 3 post units x 2 channels
    np.testing.assert_array_equal(t[3], w[:, 1].reshape(4, 4, 2)[:, :, 1])
    assert weights.tiles(w, (5, 5)) == []                 # 32 inputs are not a 5x5 image
