"""The report as a user meets it, on the smoke run's results: Snakemake's HTML report in a
real browser (headless Chromium) made by the README's command, the partial report target
with some runs missing, and a partial report after the final one."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import run_snakemake as snakemake
from test_report import ReportPage

README = Path(__file__).resolve().parents[1] / "README.md"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
FIGURES = ("learning_curves.png", "schedules.png", "roc_curves.png", "roc_by_feature_set.png",
           "features_HIGGS_low_level.png", "features_HIGGS_high_level.png",
           "fig8_HIGGS_mass_after_cut.png")

# Appended to a copy of the report: clicks through the report's own menu like a reader
# (each category, then each result's view button) and records what the page showed.
WALK_SCRIPT = """
<script>
window.addEventListener("load", async function () {
  const seen = [];
  try { await walk(seen); } catch (error) { seen.push({error: String(error)}); }
  seen.push({done: true});
  record(seen);
});
function record(seen) {
  let out = document.getElementById("walk");
  if (!out) {
    out = document.createElement("pre");
    out.id = "walk";
    document.body.appendChild(out);
  }
  out.textContent = JSON.stringify(seen);
}
async function walk(seen) {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  await sleep(300);
  for (const category of Object.keys(categories)) {
    const back = [...document.querySelectorAll("nav a")].find(
      (a) => a.textContent.trim() === "Results");  // the breadcrumb back to the menu
    if (back) { back.click(); await sleep(300); }
    const label = [...document.querySelectorAll("nav *")].find(
      (el) => el.children.length === 0 && el.textContent.trim() === category);
    label.click();
    await sleep(300);
    const count = document.querySelectorAll("nav table tbody tr").length;
    for (let i = 0; i < count; i++) {
      const row = document.querySelectorAll("nav table tbody tr")[i];
      row.querySelector("td:last-child a").click();
      await sleep(300);
      const img = document.querySelector("nav ~ div img");
      const frame = document.querySelector("nav ~ div iframe");
      if (img && !img.complete) {
        await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; });
      }
      seen.push({category: category, row: row.textContent.trim(),
                 image: img ? [img.naturalWidth, img.naturalHeight] : null,
                 frame: frame ? frame.src.slice(0, 22) : null});
      record(seen);
    }
  }
}
</script>
"""


def readme_report_arguments(preset: str) -> list[str]:
    """The arguments of the README's report command after the demo, for ``preset``."""
    line = next(line for line in README.read_text().splitlines()
                if "--report report.html" in line and "preset=demo" in line)
    command = line.split("#")[0].split()
    assert command[0].endswith("snakemake"), line
    return [a.replace("preset=demo", f"preset={preset}") for a in command[1:]]


def chromium(*args, cwd):
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", f"--user-data-dir={cwd / 'chromium'}",
                           "--virtual-time-budget=30000", *map(str, args)],
                          capture_output=True, text=True, timeout=180, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian's package; .ci/run "
                                              "installs it)")
def test_html_report_in_a_browser(local_smoke_run, tmp_path):
    folder = local_smoke_run
    results = folder / "results" / "smoke" / "HIGGS"
    # the README's command, run in the workflow folder as a user would
    snakemake(folder, *readme_report_arguments("smoke"))
    report = tmp_path / "report.html"
    shutil.move(folder / "report.html", report)

    # The landing page, as rendered: the AUC table first, then how the runs were made.
    dom = chromium("--dump-dom", report, cwd=tmp_path)
    app = dom[dom.index('<div id="app">'):]
    page = ReportPage()
    page.feed(app)
    assert app.index('class="auc-table"') < app.index('class="description"')
    expected_cells = {(p.parent.name.split("-")[0], p.parent.name.split("-")[1])
                      for p in results.glob("runs/*/metrics.json")}
    assert set(page.cells) == expected_cells and len(expected_cells) == 9
    for (model, features), (verdict, text) in page.cells.items():
        with np.load(results / "runs" / f"{model}-{features}-seed1" / "test_scores.npz") as s:
            ours = roc_auc_score(s["labels"], s["scores"])  # scikit-learn, not the package
        assert text.split()[0] == f"{ours:.3f}", (model, features, text)
        assert "paper 0." in text and verdict in text
        assert verdict in ("reproduced", "above the paper", "below the paper")
    metrics = json.loads((results / "runs" / "deep-low-seed1" / "metrics.json").read_text())
    assert f"{metrics['settings']['decay_factor']:g}" in page.items["learning rate"]
    assert f"{metrics['data']['splits']['train'][1]:,}" in page.items["data"]
    assert metrics["versions"]["tensorflow"] in page.items["versions"]
    assert page.items["seeds"] == "1"

    # Every figure, reached through the report's menu, is shown and decoded by the browser.
    walked = report.with_name("walk.html")
    walked.write_text(report.read_text() + WALK_SCRIPT)
    dom = chromium("--dump-dom", walked, cwd=tmp_path)
    seen = json.loads(re.search(r'<pre id="walk">(.*?)</pre>', dom, re.S).group(1)
                      .replace("&quot;", '"').replace("&amp;", "&"))
    assert seen.pop() == {"done": True}, seen
    assert seen[0]["category"] == "1. AUC tables"
    assert seen[0]["frame"].startswith("data:text/html")  # the table page, in an iframe
    shown = {s["row"]: s["image"] for s in seen if s["image"]}
    for name in FIGURES:
        row = next(r for r in shown if name in r)
        width, height = shown[row]
        assert width > 300 and height > 200, (name, shown[row])

    # Captions as the report embeds them: built from the runs' recorded settings.
    captions = json.loads(re.search(r"var results = (\{.*?\});\s*</script>", dom, re.S)
                          .group(1))
    caption = {entry["name"]: entry["caption"] for entry in captions.values()}
    assert f"divided by {metrics['settings']['decay_factor']:g} per batch" in \
        caption["schedules.png"]
    assert f"over {metrics['settings']['momentum_saturation_epochs']} epochs" in \
        caption["schedules.png"]
    assert "one seed per panel" in caption["learning_curves.png"]

    # One screenshot: the page is not blank (text and table lines on a light background).
    shot = tmp_path / "shot.png"
    chromium("--window-size=1400,1000", f"--screenshot={shot}", report, cwd=tmp_path)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3].mean(axis=2)
    assert pixels.std() > 0.1
    assert 0.01 < (pixels < 0.3).mean() < 0.9  # dark text / dark menu, not all one colour
    assert len(np.unique((pixels * 255).astype(np.uint8))) > 50


@pytest.mark.slow
def test_partial_report_target_with_runs_missing(local_smoke_run, tmp_path):
    """Runs finished, one in training (its live log only), one not started: the target
    renders paper_figures/partial/ from what exists, marks the rest, and starts no job but
    itself."""
    from reproduce.layout import RunFiles

    for name in ("Snakefile", "config.yaml", "workflow"):
        source = local_smoke_run / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    for name in ("runs", "evaluation"):
        shutil.copytree(local_smoke_run / "results" / "smoke" / "HIGGS" / name,
                        tmp_path / "results" / "smoke" / "HIGGS" / name)
    runs = tmp_path / "results" / "smoke" / "HIGGS" / "runs"
    evaluations = tmp_path / "results" / "smoke" / "HIGGS" / "evaluation"
    shutil.rmtree(runs / "deep-complete-seed1")  # not started
    (evaluations / "deep-complete-seed1.json").unlink()
    in_training = runs / "shallow-low-seed1"  # in training: only its live log, 2 epochs
    for name in ("metrics.json", "log.csv", "test_scores.npz"):
        (in_training / name).unlink()
    (evaluations / "shallow-low-seed1.json").unlink()
    live = RunFiles.in_folder(in_training).live_log
    lines = live.read_text().splitlines()
    live.write_text("\n".join(lines[:3]) + "\n" + lines[3][:10])  # a line being written

    proc = snakemake(tmp_path, "partial_report", "--cores", "1", "--config", "preset=smoke")
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, re.M))
    assert jobs == {"partial_report": "1", "total": "1"}, proc.stderr[-3000:]
    figures = tmp_path / "results" / "smoke" / "paper_figures" / "partial"
    assert not (figures.parent / "auc_table.csv").exists()  # never the final report's folder
    table = pd.read_csv(figures / "auc_table.csv")
    cells = table.set_index(["model", "feature_set"])
    assert cells.loc[("deep", "complete")].verdict == "missing"
    assert cells.loc[("shallow", "low")].verdict == "missing"
    assert (table.verdict != "missing").sum() == 7
    markdown = (figures / "auc_table.md").read_text()
    assert markdown.startswith("Partial report: 7 of 9 runs finished, 1 in training")
    summary = (figures / "summary.md").read_text()
    assert "Partial report" in summary and "2 of them" not in summary
    assert "1 of them still in training" in summary
    for name in ("learning_curves.png", "roc_curves.png", "schedules.png",
                 "roc_by_feature_set.png"):
        assert (figures / name).read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "results" / "smoke" / "HIGGS" / "tfrecords").exists()


@pytest.mark.slow
def test_partial_report_after_the_final_report_leaves_it_final(local_smoke_run, tmp_path):
    """A partial report after the final one writes its own folder: the final report's
    files are unchanged and the workflow still has nothing to do."""
    work = tmp_path / "work"
    shutil.copytree(local_smoke_run, work, symlinks=True)
    figures = work / "results" / "smoke" / "paper_figures"
    final = {p.name: p.read_bytes() for p in figures.iterdir() if p.is_file()}
    snakemake(work, "partial_report", "--cores", "1", "--config", "preset=smoke")
    assert {p.name: p.read_bytes() for p in figures.iterdir() if p.is_file()} == final
    assert (figures / "partial" / "auc_table.md").exists()
    proc = snakemake(work, "-n", "--cores", "1", "--config", "preset=smoke")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stderr[-3000:]
