"""A real headless Chromium opens a report from disk, offline: it renders (non-blank screenshot),
the Chinese title is in the DOM, and every image decodes.

Skipped only when Chromium is absent *and* we are not in CI (``CI`` set → the test fails instead,
since ``.ci/run`` installs Debian's ``chromium`` and ``fonts-noto-cjk``).
"""

from __future__ import annotations

import html as _html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from casework.run import report

PERIOD = "2024-12"
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                       "google-chrome"))
                 if p), None)

pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium fonts-noto-cjk)")
    return CHROMIUM


def _chromium(binary: str, profile: Path, *args: str,
              timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--no-first-run", "--disable-extensions",
           "--disable-sync", "--mute-audio",
           f"--user-data-dir={profile}",
           # offline: any host name fails to resolve, any proxy connection is refused
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
           "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory, _demo_home):
    """The snapshot overview produced by the real runner on the small synthetic snapshot."""
    report.ensure_kernel(install=True)
    old = os.environ.get("CASEWORK_HOME")
    os.environ["CASEWORK_HOME"] = str(_demo_home)
    try:
        res = report.run("snapshot_overview", period=PERIOD,
                         reports_dir=tmp_path_factory.mktemp("r"))
    finally:
        if old is None:
            os.environ.pop("CASEWORK_HOME", None)
        else:
            os.environ["CASEWORK_HOME"] = old
    assert res.ok, res.describe()
    return Path(res.html)


PROBE = """
<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0));
  const h1 = document.querySelector('h1');
  const b = document.body;
  b.setAttribute('data-probe-images', String(imgs.length));
  b.setAttribute('data-probe-broken', String(broken.length));
  b.setAttribute('data-probe-h1', h1 ? h1.textContent.replace('¶', '').trim() : '');
  b.setAttribute('data-probe-h1-height',
                 h1 ? String(Math.round(h1.getBoundingClientRect().height)) : '0');
  b.setAttribute('data-probe-title', document.title);
});
</script>
"""


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m, f"{name} missing: the probe did not run"
    return _html.unescape(m.group(1))


def test_report_renders_in_headless_chromium(chromium, report_html, tmp_path):
    # 1. DOM after load: the title, and every image decoded (probe appended to a copy of the page)
    probe = tmp_path / "probe.html"
    text = report_html.read_text(encoding="utf-8")
    assert "<script" not in text  # the report itself carries no script
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(chromium, tmp_path / "profile1", "--dump-dom", probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _attr(dom.stdout, "data-probe-h1") == "数据概况"
    assert int(_attr(dom.stdout, "data-probe-h1-height")) > 10
    assert _attr(dom.stdout, "data-probe-title").startswith("数据概况")
    n_images = int(_attr(dom.stdout, "data-probe-images"))
    assert n_images == text.count("data:image/png;base64,") >= 2
    assert _attr(dom.stdout, "data-probe-broken") == "0"

    # 2. the unmodified report, from disk: DOM has the Chinese title, screenshot is not blank
    plain = _chromium(chromium, tmp_path / "profile2", "--dump-dom", report_html.as_uri())
    assert plain.returncode == 0
    assert "<title>数据概况" in plain.stdout and "数据概况" in plain.stdout
    shot = tmp_path / "shot.png"
    res = _chromium(chromium, tmp_path / "profile3", f"--screenshot={shot}",
                    "--window-size=1200,1600", "--hide-scrollbars", report_html.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 1600)
    import numpy as np

    px = np.asarray(img.resize((300, 400)), dtype=int).reshape(-1, 3)
    colours = len(np.unique(px, axis=0))
    far_from = lambda rgb: np.abs(px - np.array(rgb)).sum(axis=1) > 60  # noqa: E731
    drawn = (far_from((255, 255, 255)) & far_from((244, 246, 248))).mean()
    assert colours > 50, f"only {colours} colours: blank page?"
    assert drawn > 0.01, "nearly nothing drawn on the page"
