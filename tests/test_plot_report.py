"""``ngc report`` and ``ngc run --plot``: one self-contained HTML page with every plot; the
default plots written after a run; a circuit without metrics says what it recorded.

The report is opened in headless Chromium when one is installed (Debian's ``chromium``): the
page must load with every embedded image decoded, and its screenshot must not be blank.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ngcspec
from ngcspec.plots import plan, render
from ngcspec.plots.context import RunView
from ngcspec.report import write_report
from ngcspec.rundir import write_run

pytest.importorskip("matplotlib")

CIRCUITS = Path(__file__).resolve().parent.parent / "circuits"
TINY = """
ngcspec: 1
name: tiny-lif
dt: 0.25
components:
  z: {kind: LIFCell, n_units: 4, tau_m: 10.0, resist_m: 1.0, thr: -52.0, v_rest: -65.0,
      v_reset: -60.0, refract_time: 1.0, tau_theta: 0.0}
phases:
  drive:
    batches: 1
    batch_size: 2
    clamps: {z.j: {constant: [14.0, 20.0, 30.0, 50.0]}}
    schedule: [reset, {advance: 200}]
    metrics: {mean_v: {mean: z.v}}
    record: {z.s: spike_times, z.v: per_step}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    circuit = ngcspec.load(TINY)
    return write_run(circuit.run(), circuit.resolved, tmp_path_factory.mktemp("runs"))


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


@pytest.mark.slow
def test_report_embeds_every_plot_and_the_order_graph(run_dir):
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    page = path.read_text()
    expected = sum(1 for _ in render(plan(RunView.load(run_dir))))
    images = _images(page)
    assert len(images) == expected + 1 == page.count("<img")      # + the execution order
    assert all(img[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    for needle in ("tiny-lif", "mean_v", "drive/z.s", "spike_times", "LIFCell", "seed 0",
                   "execution order", "raster_z.s", "series_z.v"):
        assert needle in page, needle
    assert "http://" not in page and "https://" not in page       # nothing to fetch


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_report_opens_in_headless_chromium_with_every_image(run_dir, tmp_path):
    import matplotlib.image as mpimg

    page = write_report(run_dir).read_text()
    n_images = page.count("<img")
    # a copy that writes, once loaded, how many images decoded (naturalWidth > 0)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>window.addEventListener('load', () => {"
                     "const ok = [...document.images].filter(i => i.complete && i.naturalWidth > 0);"
                     "document.title = 'decoded ' + ok.length + ' of ' + document.images.length;"
                     "});</script></body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run([CHROMIUM, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert f"<title>decoded {n_images} of {n_images}</title>" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1000,1400",
                    (run_dir / "report.html").as_uri()], capture_output=True, timeout=120)
    img = mpimg.imread(shot)
    assert img.shape[:2] == (1400, 1000) and img[..., :3].std() > 0.05


def _ngc(args, capsys, cwd):
    from ngcspec.cli.app import main

    argv = sys.argv
    sys.argv = ["ngc", *args]
    try:
        with pytest.raises(SystemExit) as info:
            main()
    finally:
        sys.argv = argv
    return info.value.code, capsys.readouterr()


@pytest.mark.slow
def test_ngc_run_plot_writes_the_default_plots(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    code, printed = _ngc(["run", "tiny.yaml", "--plot", "--no-progress", "--out", "runs"],
                         capsys, tmp_path)
    assert code == 0, printed.err
    run = next((tmp_path / "runs" / "tiny-lif").iterdir())
    names = sorted(p.name for p in (run / "plots").iterdir())
    assert names == ["isi_z.s.png", "metrics.png", "raster_z.s.png", "rate_hist_z.s.png",
                     "rate_z.s.png", "series_z.v.png"]
    assert f"plots: 6 file(s) in {run.relative_to(tmp_path) / 'plots'}" in printed.out


@pytest.mark.slow
def test_a_run_without_metrics_says_what_it_recorded(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, printed = _ngc(["run", str(CIRCUITS / "hebbian_lesson3.yaml"), "--no-progress",
                          "--out", "runs"], capsys, tmp_path)
    assert code == 0, printed.err
    text = " ".join(printed.out.split())
    assert "no metrics; recorded run/Wab.weights (per_step), run/b.zF (per_step)" in text
    run = next((tmp_path / "runs" / "hebbian-lesson3").iterdir())
    assert f"ngc plot {run.relative_to(tmp_path)}" in text
    view = RunView.load(run)                       # its data file resolves from the source
    fig = next(f for j, f in render(plan(view)) if j.stem == "series_b.zF")
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), [1, 2, 0, 0, 4])


def test_a_rate_record_is_drawn_as_recorded_then_smoothed(run_dir):
    import dataclasses

    from ngcspec.plots import spikes

    view = RunView.load(run_dir)
    rec = next(r for r in view.records if r.key == "drive/z.s")
    hz = np.zeros((1, 200, 2))                    # (epochs, steps, samples), in Hz
    hz[0, 50, 0], hz[0, 120, 1] = 4000.0, 2000.0  # one spike of 4 units in 0.25 ms -> 1000 Hz
    fig = spikes.population_rate(view, dataclasses.replace(rec, mode="rate", array=hz),
                                 window_ms=2.0)
    t, y = fig.axes[0].lines[0].get_data()
    # the mean over samples, averaged over 8 steps (2 ms): its area is kept
    assert np.sum(y) == pytest.approx(np.sum(hz[0].mean(axis=1)))
    assert y.max() == pytest.approx(2000.0 / 8)
    assert t[np.argmax(y)] == pytest.approx(50 * 0.25, abs=1.0)


def test_run_plot_without_matplotlib_keeps_the_results_and_says_so(run_dir, capsys, monkeypatch):
    import typer

    from ngcspec.cli.plot import after_run

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(typer.Exit) as info:
        after_run(run_dir, None, None, plot=True)
    assert info.value.exit_code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"the results are saved in {run_dir}" in err and 'pip install -e ".[plot]"' in err
    assert (run_dir / "summary.json").is_file()
