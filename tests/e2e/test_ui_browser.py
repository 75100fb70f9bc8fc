"""The MLflow UI served by ``mlflow-core server``, in headless Chromium, as a person uses it.

Logs an experiment with two runs (a param, a metric history) through the real ``mlflow``
client, then opens the UI in Debian's ``chromium`` (driven by Playwright with the system
browser; nothing is downloaded): the runs table lists both runs, the run page shows the param
and the metric's last value, and the model-metrics tab draws the metric's chart. Screenshots go
to ``test-artifacts/ui/`` (git-ignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pytest

from tests.support.servers import Server, mlflow_core_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
_TIMEOUT_MS = 180_000  # the UI bundle is large and these machines are shared

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(
        "Chromium is not installed (apt-get install -y chromium); the browser test needs it",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("ui")
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job in this test
    with mlflow_core_server(f"sqlite:///{workdir / 'ui.db'}", workdir, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def logged(server: Server) -> tuple[str, list[str]]:
    mlflow.set_tracking_uri(server.url)
    experiment = mlflow.set_experiment("ui-e2e")
    run_ids = []
    for r in range(2):
        with mlflow.start_run(run_name=f"ui-run-{r}") as run:
            mlflow.log_param("alpha", f"0.{r + 5}")
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1 + r), step=step)
            run_ids.append(run.info.run_id)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it
    return experiment.experiment_id, run_ids


@pytest.fixture(scope="module")
def page(server: Server) -> Iterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        opened = browser.new_page(viewport={"width": 1400, "height": 900})
        opened.set_default_timeout(_TIMEOUT_MS)
        try:
            yield opened
        finally:
            browser.close()


def test_runs_table_lists_the_logged_runs(
    server: Server, logged: tuple[str, list[str]], page: Page
) -> None:
    experiment_id, _ = logged
    page.goto(f"{server.url}/#/experiments/{experiment_id}/runs")
    page.get_by_text("ui-run-0").first.wait_for()
    page.get_by_text("ui-run-1").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "runs-table.png"))


def test_run_page_shows_param_and_last_metric_value(
    server: Server, logged: tuple[str, list[str]], page: Page
) -> None:
    experiment_id, run_ids = logged
    page.goto(f"{server.url}/#/experiments/{experiment_id}/runs/{run_ids[0]}")
    page.get_by_text("alpha").first.wait_for()
    page.get_by_text("loss").first.wait_for()
    body = page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "run-overview.png"))
    assert "0.5" in body  # the param
    assert "0.2" in body  # loss at its last step: 1 / 5


def test_metric_chart_renders_the_history(
    server: Server, logged: tuple[str, list[str]], page: Page
) -> None:
    experiment_id, run_ids = logged
    page.goto(f"{server.url}/#/experiments/{experiment_id}/runs/{run_ids[0]}/model-metrics")
    page.get_by_text("ui-run-0 (loss)").first.wait_for()
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for()
    # The chart's x axis runs over the logged steps and its traces are drawn.
    ticks = chart.inner_text()
    page.screenshot(path=str(ARTIFACTS / "metric-chart.png"))
    for step in ("0", "1", "2", "3", "4"):
        assert step in ticks.split()
    assert chart.locator("path.js-line, .scatterlayer path").count() >= 1
