"""`hive-otel report --html`: one self-contained page, rendered for real by headless Chromium.

The store is loaded by the real pipeline (tests/demo_store.py). Chromium is Debian's package (.ci/run
installs it when missing) and runs with every name resolving nowhere and a proxy on a closed loopback
port, so the page can only render from what it carries inside.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from hive_otel.collector.report import write_report
from hive_otel.collector.store.store import open_store
from tests.demo_store import load_demo_store

PLOTLY_BLUE = (0x63, 0x6E, 0xFA)  # the first color of plotly's default colorway


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("report")
    store, _ = load_demo_store(work)
    store.close()  # the command below opens it, as a user would
    yield f"chdb://{work / 'clickhouse'}"


@pytest.fixture(scope="module")
def page(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    completed = subprocess.run(
        [sys.executable, "-m", "hive_otel.cli", "report", "--html", str(out), "--store", store_url, "--since", "now-1d"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert re.search(r"\d+ panels \(\d+ charts\) written to", completed.stdout)
    return out


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "headless Chromium is missing: `apt-get install chromium` (.ci/run installs it)"
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=20000", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_page_is_self_contained(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=", text), "the page loads something"
    assert "Plotly.newPlot" in text and page.stat().st_size > 3_000_000  # plotly.js is inside
    assert "This panel failed" not in text
    titles = ("Cost by model (runtime + estimated)", "Top sessions", "Queen phases", "Agent tree", "Worker health by colony")
    for title in titles:
        assert f"<h3>{title}</h3>" in text, title


def test_chromium_draws_every_chart_offline(page: Path, tmp_path: Path) -> None:
    charts = page.read_text(encoding="utf-8").count("Plotly.newPlot")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    drawn = dom.stdout.count('class="plot-container plotly"')  # what plotly.js adds once a chart is drawn
    assert charts >= 8 and drawn == charts, f"{drawn} of {charts} charts drawn"


def test_the_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    completed = _chromium(tmp_path, "--window-size=1400,2200", f"--screenshot={shot}", page.as_uri())
    assert completed.returncode == 0 and shot.exists(), completed.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2200)
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 30, "the page is (nearly) one color"
    blue = sum(
        count for count, rgb in image.getcolors(maxcolors=1 << 24) or []
        if all(abs(c - p) <= 12 for c, p in zip(rgb, PLOTLY_BLUE, strict=True))
    )  # fmt: skip
    assert blue > 5_000, f"only {blue} pixels in plotly's first trace color: no chart was painted"


def test_one_tenant_and_an_empty_range(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    try:
        acme = write_report(store, tmp_path / "acme.html", since="now-1d", until=None, source=store_url, tenant="acme")
        empty = write_report(store, tmp_path / "empty.html", since="2020-01-01", until="2020-01-02", source=store_url)
        with pytest.raises(ValueError, match="range is empty"):
            write_report(store, tmp_path / "x.html", since="now", until="now-1d", source=store_url)
    finally:
        store.close()
    text = acme.path.read_text(encoding="utf-8")
    assert not acme.failed and "tenant acme" in text and ">globex<" not in text and ">acme<" in text
    assert not empty.failed and empty.charts == 0 and "No data in this range." in empty.path.read_text(encoding="utf-8")
