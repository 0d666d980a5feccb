"""The web view in a real browser: Debian's headless chromium driven by Playwright.

The whole valley's inventory on SQLite, ``twin serve``'s application under uvicorn on a free
loopback port, and fill readings through the real ingest path (wire messages into an
``IngestProcessor`` on the same store, as ingest would commit them). Screenshots go to the
test's temporary folder.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.wire import Envelope, encode
from domain import Bin
from twin import (
    COMMISSIONED_AT,
    IngestProcessor,
    ValleyTwin,
    load_geography,
    open_twin,
    plan_inventory,
)
from twin.ingest import Incoming
from twin.web import FeedSettings, WebSettings, create_app

pytestmark = pytest.mark.browser
FIRST = COMMISSIONED_AT + timedelta(days=10)


def sensor_of(code: str) -> str:
    """A DevEUI per container (a bin accepts readings from its own sensor only)."""
    return hashlib.sha256(code.encode()).hexdigest()[:16].upper()


def send_fill(twin: ValleyTwin, code: str, percent: float, at: datetime, number: int) -> None:
    envelope = Envelope(
        f"web-{number}", "gateway-1", sensor_of(code), code, "bin.fill", at,
        {"fill_percent": percent},
    )  # fmt: skip
    processor = IngestProcessor(twin, load_geography(), clock=lambda: at)
    (reply,) = processor.process([Incoming(encode(envelope))])
    assert reply is not None and reply.status == "ack"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def valley(tmp_path: Path) -> Iterator[tuple[str, ValleyTwin, list[str]]]:
    url = f"sqlite:///{tmp_path / 'valley.sqlite'}"
    twin = open_twin(url)
    inventory = plan_inventory(load_geography(), 1)
    twin.add_missing(inventory)
    bins = [a.code for a in inventory if isinstance(a, Bin)][:2]
    send_fill(twin, bins[0], 30.0, FIRST, 1)
    send_fill(twin, bins[0], 97.0, FIRST + timedelta(hours=6), 2)  # over the alert threshold
    send_fill(twin, bins[1], 20.0, FIRST + timedelta(hours=6), 3)
    yield url, twin, bins
    twin.close()


@pytest.fixture
def server(valley: tuple[str, ValleyTwin, list[str]], tmp_path: Path) -> Iterator[str]:
    import uvicorn

    url, _, _ = valley
    served = open_twin(url, create=False)
    settings = WebSettings(reports_dir=tmp_path / "reports", feed=FeedSettings(interval_s=0.2))
    port = free_port()
    config = uvicorn.Config(create_app(served, settings), host="127.0.0.1", port=port)
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert time.monotonic() < deadline, "the web view did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(10)
    served.close()


def test_the_map_goes_live_travels_in_time_and_links_alerts(
    chromium: str,
    valley: tuple[str, ValleyTwin, list[str]],
    server: str,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    _, twin, (alerting, live) = valley
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))

        page.goto(server + "/")
        page.wait_for_function("document.querySelectorAll('#assets .mark').length > 3000")
        drawn = page.locator("#assets .mark").count()
        assert drawn == len(plan_inventory(load_geography(), 1))
        assert page.locator(f'[data-code="{live}"]').get_attribute("data-band") == "low"
        page.wait_for_function(
            "document.getElementById('status').textContent.includes('live updates: on')"
        )
        page.screenshot(path=str(tmp_path / "map-1280x800.png"))

        # A reading through the real ingest path: the container turns "high" without reload.
        sent = time.monotonic()
        send_fill(twin, live, 85.0, FIRST + timedelta(hours=9), 4)
        page.wait_for_selector(
            f'[data-code="{live}"][data-band="high"]', state="attached", timeout=2000
        )
        assert time.monotonic() - sent < 2.0
        page.screenshot(path=str(tmp_path / "map-after-fill.png"))

        # Filters by kind: only containers stay drawn.
        page.select_option("select[name=kind]", "beacon")
        assert page.locator(f'[data-code="{live}"]').is_hidden()
        page.select_option("select[name=kind]", "")

        # The time slider: between the two readings, the container was at 30 %.
        page.goto(f"{server}/asset/{alerting}")
        between = int((FIRST + timedelta(hours=3)).timestamp())
        page.eval_on_selector(
            "#instant",
            "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }",
            between,
        )
        page.wait_for_function(
            "document.querySelector('#asof-table caption').textContent.includes('"
            + datetime.fromtimestamp(between, UTC).strftime("%Y-%m-%d %H:%M")
            + "')"
        )
        fill_row = page.locator("#asof-table tr", has_text="fill percent")
        assert fill_row.locator("td").inner_text() == "30"
        page.screenshot(path=str(tmp_path / "asset-as-of.png"), full_page=True)

        # An alert's link opens its asset's page.
        page.goto(server + "/alerts")
        page.locator("#current-alerts a", has_text=alerting).first.click()
        page.wait_for_url(f"**/asset/{alerting}")
        assert alerting in page.locator("h1").inner_text()

        # On a phone: the map still draws.
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.on("pageerror", lambda error: problems.append(str(error)))
        phone.goto(server + "/")
        phone.wait_for_function("document.querySelectorAll('#assets .mark').length > 3000")
        phone.screenshot(path=str(tmp_path / "map-phone.png"), full_page=True)
        browser.close()
    assert problems == []
    assert all(
        (tmp_path / name).stat().st_size > 10_000 for name in ("map-1280x800.png", "map-phone.png")
    )
