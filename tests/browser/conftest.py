"""The console in a real browser: Debian's headless Chromium, driven through its chromedriver (Selenium), against
`make run`'s stack (`tools.run_local`: the embedded AWS endpoint, `chalice local`, the worker, the demo account and
its named groups), signed in with the demo admin token from the demo file the stack writes.

One stack and one browser per module: `make test` runs with `--dist loadfile`, so every test of a module runs on
the same xdist worker and the stack starts once. Chromium or its driver
missing is a failure, not a skip: `make test` installs them (`make chromium`).

`OPTOUT_SCREENSHOTS=1` makes the tests write each page's screenshot to docs/console/ (otherwise they write none, so
`make test` leaves the tree as it was).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.test_make_run_carriers import READY_TIMEOUT, STOP_TIMEOUT, MakeRun
from tools.demo_file import PROJECT_ROOT, read_demo_file

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: The flags that work in this container (no sandbox as root, no GPU, nothing fetched in the background).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
DESKTOP = (1280, 900)
PHONE = (390, 844)
SCREENSHOTS = PROJECT_ROOT / "docs" / "console"
WAIT = 15  # seconds an element may take to appear (the worker and the SNS bridge poll every 2 s)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # They drive the local stack, as tests/integration do: `-m "not integration"` (the unit suite alone) leaves them.
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """`python -m tools.run_local` (what `make run` runs) on free ports with its own demo file, started (not yet
    ready: the browser starts meanwhile). Killed afterwards with everything it started (its process group)."""
    run = MakeRun.start(tmp_path_factory.mktemp("console") / "demo.json", "console-stack-output")
    process = run.process
    try:
        yield run
    finally:
        # Nothing of it is kept: its process group (chalice local included) goes at once, not after the long polls.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT)
        assert run.reader is not None
        run.reader.join(5)


@pytest.fixture(scope="session")
def stack(make_run: MakeRun) -> dict[str, Any]:
    """The demo file of `make_run`, once it is ready: the API's URL, the demo account and its admin token."""
    if not make_run.ready.wait(READY_TIMEOUT) or make_run.process.poll() is not None:
        pytest.fail(f"make run was not ready within {READY_TIMEOUT} s; its output ends:\n{make_run.tail()}")
    return read_demo_file(make_run.demo_file)


@pytest.fixture(scope="module")
def browser(make_run: MakeRun) -> Iterator[WebDriver]:
    """A fresh headless Chromium (its own profile), at desktop width."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: `make chromium` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.TemporaryDirectory(prefix="console-chromium-")
    options.add_argument(f"--user-data-dir={profile.name}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


class Console:
    """The console in the browser, for one test: go to pages, wait for what they show, sign in, screenshot."""

    def __init__(self, driver: WebDriver, demo: dict[str, Any]) -> None:
        self.driver = driver
        self.demo = demo
        self.url = f"{demo['api']}/console/"

    def open(self, page: str = "") -> None:
        self.driver.get(self.url + (f"#/{page}" if page else ""))

    def wait(self, css: str, text: str | None = None, timeout: float = WAIT) -> WebElement:
        """The first element matching `css` (whose text contains `text`, when given), once it is there."""

        def found(driver: WebDriver) -> WebElement | bool:
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                if text is None or text in element.text:
                    return element
            return False

        try:
            # A page that renders again meanwhile leaves stale elements behind: look again.
            return WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
                found
            )
        except TimeoutException:
            shown = self.driver.find_element(By.TAG_NAME, "main").text[:2000]
            raise AssertionError(f"no {css!r} with {text!r} within {timeout} s; the page shows:\n{shown}") from None

    def eventually(self, check: Callable[[], Any], timeout: float = WAIT) -> Any:
        """check()'s first truthy value, reloading the page between tries (for what the worker does later)."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.5)

    def sign_in(self) -> None:
        """Sign in with the demo account's admin token, from the keyboard alone."""
        self.open()
        account = self.wait("input[name=account]")
        assert self.driver.switch_to.active_element == account  # the form takes the focus
        account.send_keys(self.demo["account_id"])
        self.driver.switch_to.active_element.send_keys("\t")
        self.driver.switch_to.active_element.send_keys(self.demo["admin_token"] + "\n")
        self.wait("#account-id", self.demo["account_id"])

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The JSON API as the demo account's admin, to check what the page did."""
        headers = {"Authorization": f"Bearer {self.demo['admin_token']}"}
        url = f"{self.demo['api']}/v1/accounts/{self.demo['account_id']}{path}"
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)

    def screenshot(self, name: str, size: tuple[int, int] = DESKTOP) -> None:
        """docs/console/<name>.png, only when OPTOUT_SCREENSHOTS=1: the whole page (up to 2,400 pixels high) at
        `size`'s width."""
        if os.environ.get("OPTOUT_SCREENSHOTS") != "1":
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.set_window_size(*size)
        time.sleep(0.3)  # the layout at the new width
        content = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size[0], "height": min(content["height"], 2400), "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
        self.driver.set_window_size(*DESKTOP)

    def upload_file(self, name: str, content: str) -> Path:
        """A file to choose in a file input (the browser reads it from this machine)."""
        path = Path(tempfile.mkdtemp(prefix="console-upload-")) / name
        path.write_text(content)
        return path

    def errors(self) -> list[str]:
        """What the page logged as an error (network errors of the API's planned routes aside)."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and entry.get("source") != "network"
        ]


@pytest.fixture(scope="module")
def console(browser: WebDriver, stack: dict[str, Any]) -> Console:
    page = Console(browser, stack)
    page.sign_in()
    return page
