"""The calibration report, opened offline in headless Chromium: every chart is there and has drawn something.

The report itself carries no script.  The test copies it and appends one that measures, in the browser's own
layout, each chart's size and the boxes of its bars and lines, then writes the figures into the DOM that
``--dump-dom`` prints.  A screenshot is taken as well, to check the page paints.
"""

from __future__ import annotations

import json
import re
import struct
from datetime import timedelta

import pytest

from scoring import parse_model
from scoring.calibrate import drift, evaluate, propose, render_html
from tests.browser import run_chromium

from .test_calibrate import MODEL_YAML, NOW, synthetic_history

CHARTS = ("histogram", "histogram-proposed", "bands", "roc", "lift", "points", "drift")

pytestmark = pytest.mark.browser

_MEASURE = """
<script>
window.addEventListener("load", () => {
  const out = {};
  for (const svg of document.querySelectorAll("svg[data-chart]")) {
    const box = svg.getBoundingClientRect();
    let drawn = 0;
    for (const shape of svg.querySelectorAll("rect.bar, polyline.line")) {
      const b = shape.getBBox();
      if (b.width > 0 || b.height > 0) drawn += 1;
    }
    out[svg.dataset.chart] = {width: box.width, height: box.height, drawn: drawn,
                              title: (svg.querySelector("title") || {}).textContent || ""};
  }
  const pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


@pytest.fixture(scope="module")
def report_html() -> str:
    model = parse_model(MODEL_YAML, "synthetic.yaml")
    history = synthetic_history(n=900)
    recent = synthetic_history(n=800, days=60, seed=9, broken_since=NOW - timedelta(days=30))
    evaluation = evaluate(model, history, NOW)
    proposal = propose(model, history, now=NOW, max_rules=12, seed=7)
    return render_html(evaluation, proposal, drift(model, recent, NOW))


def test_every_chart_renders_with_geometry(report_html, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report_html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    result = run_chromium(tmp_path / "profile", "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.DOTALL)
    assert match, f"the measuring script did not run; DOM starts: {result.stdout[:500]}"
    measured = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert set(measured) == set(CHARTS)
    for chart, figures in measured.items():
        assert figures["width"] > 300 and figures["height"] > 200, (chart, figures)
        assert figures["drawn"] >= 2, (chart, figures)
        assert figures["title"], chart


def test_report_paints_offline(report_html, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    shot = tmp_path / "report.png"
    result = run_chromium(
        tmp_path / "profile", "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1000,3000", page.as_uri()
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 3000)
    assert len(data) > 40_000  # a blank page compresses to a few kilobytes
