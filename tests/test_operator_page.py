"""The operator page: served at / and /static/ without a token, nothing from elsewhere; and in a real
browser (Debian's chromium, headless, driven by selenium) against a running system: it takes the
token (a refused one sends it back to the form), shows every strategy, updates the trade count when
a trade closes without reloading, and its halt button (after the confirmation) halts the strategy
at risk while a dismissed confirmation sends nothing."""

from __future__ import annotations

import asyncio
import csv
import gzip
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from operator_api import routes, static
from operator_api.token import read_info, read_token, token_path
from tests import ray_fixtures
from tests.ray_fixtures import SystemRun, make_settings, strategy_entry, wait_until

ray_session = ray_fixtures.ray_session

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")
START_MS = int(datetime(2025, 5, 6, tzinfo=UTC).timestamp() * 1000)


def _get(path: str, method: str = "GET") -> routes.Response:
    no_backend = cast(routes.Backend, None)  # the page never asks the backend
    return asyncio.run(routes.dispatch(routes.Request(method=method, path=path), "secret", no_backend))


def test_the_page_is_served_without_a_token_and_only_its_own_files() -> None:
    index = _get("/")
    assert index.status == 200 and index.content_type.startswith("text/html")
    assert b'src="/static/app.js"' in index.body
    assert "default-src 'none'" in index.headers["Content-Security-Policy"]
    for name, kind in static.PAGE_FILES.items():
        resp = _get(static.STATIC_PREFIX + name)
        assert resp.status == 200 and resp.content_type == kind and resp.body
        assert resp.body == (Path(static.__file__).parent / "page" / name).read_bytes()
    for path in ("/static/routes.py", "/static/../routes.py", "/static/page/app.js", "/static/", "/index.html"):
        assert _get(path).status == 404, path
    assert _get("/", "POST").status == 405
    assert _get("/api/v1/status").status == 401  # the data still needs the token


def test_the_page_refers_to_nothing_outside_the_server() -> None:
    page = Path(static.__file__).parent / "page"
    html = (page / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(ref.startswith(static.STATIC_PREFIX) and ref[len(static.STATIC_PREFIX):] in static.PAGE_FILES
                        for ref in refs), refs
    for name in static.PAGE_FILES:
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", (page / name).read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (name, urls)  # an XML namespace, never fetched


# --- in a real browser ---------------------------------------------------------------------------

@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"no browser: {' and '.join(missing)} missing "
                    "(apt-get install chromium chromium-driver; .ci/run does it)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extras)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _candles(source: Path, target: Path, minutes: int) -> Path:
    with gzip.open(source, "rt", newline="") as f, target.open("w", newline="") as out:
        reader, writer = csv.reader(f), csv.writer(out)
        writer.writerow(next(reader))
        writer.writerows(row for row in reader if START_MS <= int(row[0]) < START_MS + minutes * 60_000)
    return target


def _cell(driver: Any, strategy: str, column: str) -> str | None:
    from selenium.common.exceptions import NoSuchElementException

    try:
        return str(driver.find_element("css selector", f'#strategies tr[data-strategy="{strategy}"] td.{column}').text)
    except NoSuchElementException:
        return None


def _click_and_answer(driver: Any, strategy: str, action: str, accept: bool) -> str:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element("css selector", f'#strategies button[data-action="{action}"][data-strategy="{strategy}"]').click()
    alert = WebDriverWait(driver, 5).until(expected_conditions.alert_is_present())
    text = str(alert.text)
    alert.accept() if accept else alert.dismiss()
    return text


@pytest.mark.timeout(120)
def test_the_page_in_a_browser_shows_updates_and_halts(ray_session: Any, browser: Any, tmp_path: Path,
                                                       sol_candles_path: Path) -> None:
    candles = _candles(sol_candles_path, tmp_path / "sol.csv", minutes=60)
    settings = make_settings(tmp_path, source="candles", source_path=candles, speed=15,
                             venue={"sim": {"history_hours": 0}},
                             strategies=[strategy_entry("fast", 2001), strategy_entry("other", 2002)])
    db = str(settings.storage.db_path)
    with SystemRun(settings, supervise=True) as run:
        url, token = read_info(db)["url"], read_token(token_path(db))
        driver = browser

        # without a token the page asks for one; a refused one brings the form back with the reason
        driver.get(url + "/")
        form = driver.find_element("id", "token-form")
        assert form.is_displayed()
        driver.find_element("id", "token-input").send_keys("not-the-token")
        driver.find_element("css selector", "#token-form button").click()
        wait_until(lambda: "refused" in driver.find_element("id", "token-error").text, 10.0,
                   message="the refused token's message")
        assert form.is_displayed()

        # the token in the fragment: every strategy shows, and the token leaves the address bar
        driver.get(url + "/#token=" + token)
        wait_until(lambda: {_cell(driver, s, "name") for s in ("fast", "other")} == {"fast", "other"}, 20.0,
                   interval_s=0.2, message="a row per strategy")
        assert "token" not in driver.current_url and not form.is_displayed()
        assert _cell(driver, "fast", "account") == "2001" and _cell(driver, "other", "account") == "2002"
        assert _cell(driver, "fast", "mode") == "running"
        wait_until(lambda: {"risk", "feed", "operator"} <= {
            row.text.split()[0] for row in driver.find_elements("css selector", "#actors tbody tr") if row.text},
            20.0, interval_s=0.2, message="the actors' health")

        # a trade closes: the count moves on in place (no reload) and matches the strategy's own
        driver.execute_script("window.notReloaded = true;")
        start = int(wait_until(lambda: (_cell(driver, "fast", "trades") or "—").isdigit()
                               and _cell(driver, "fast", "trades"), 20.0, interval_s=0.2, message="a count"))
        shown = int(wait_until(lambda: int(_cell(driver, "fast", "trades") or 0) > start
                               and _cell(driver, "fast", "trades"), 60.0, interval_s=0.2,
                               message="the page's trade count to move on"))
        assert shown <= int(run.call("strategy:fast", "status")["trades"])
        assert driver.execute_script("return window.notReloaded === true;")
        wait_until(lambda: driver.find_elements("css selector", "#trades tbody tr"), 10.0,
                   message="a recent trade row")
        wait_until(lambda: driver.find_elements("css selector", '#equity .chart[data-strategy="fast"] polyline'),
                   10.0, message="fast's equity curve")

        # a dismissed confirmation sends nothing; an accepted one halts that strategy at risk
        assert _click_and_answer(driver, "other", "halt", accept=False) == "halt strategy other?"
        assert _click_and_answer(driver, "fast", "halt", accept=True) == "halt strategy fast?"
        wait_until(lambda: run.call("risk", "status")["strategies"]["fast"]["mode"] == "halted", 20.0,
                   interval_s=0.2, message="risk to halt fast")
        wait_until(lambda: (_cell(driver, "fast", "mode") or "").startswith("halted"), 10.0, interval_s=0.2,
                   message="the page to show fast halted")
        assert "halt from the operator page" in (_cell(driver, "fast", "mode") or "")
        assert run.call("risk", "status")["strategies"]["other"]["mode"] == "running"
        assert _cell(driver, "other", "mode") == "running"
        assert driver.execute_script("return window.notReloaded === true;")
