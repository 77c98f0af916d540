"""The web console in a real Chromium (Debian's, driven by Playwright) against a real `curfew
serve` on a lab store and lab routers started here: one lab night, lived by the NOC, a bureau
and an auditor.

The server's clock starts just before midnight (`serve --at`); after midnight it is stopped and
started again at 08:00 (sessions do not survive a restart: everyone logs in again), so the
night's cut and restore are both in the log. With CURFEW_CONSOLE_SCREENSHOTS=1 the screenshots
of the main pages go to api/console/screenshots/ (the README's); otherwise to a temporary
directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from controller.audit import generate_key
from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import connect_driver
from controller.store import Store
from controller.tokens import create_token
from controller.verification import verify_inventory
from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN, SHANGHAI
from tests.e2e.processes import free_port, wait_until

pytestmark = pytest.mark.lab

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (`make system-deps` installs it as root)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (the dev extra)"
)
expect = sync_api.expect

CURFEW = [str(Path(sys.executable).with_name("curfew"))]
REPO = Path(__file__).resolve().parents[2]
MIDNIGHT = datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI)
EVENING = "2026-11-24T23:59:38+08:00"  # the first server's clock at start
MORNING = "2026-11-25T08:00:02+08:00"  # the second's: the night is over
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WAIT_MS = 30_000




@dataclass
class Night:
    """The lab, the store, the tokens and the server the scenarios share."""

    lab: Lab
    place: Path
    env: dict[str, str]
    tokens: dict[str, str]
    shots: Path
    port: int = 0
    server: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, at: str) -> None:
        """Start `curfew serve --at AT` on a new port (stopping the one running)."""
        self.stop()
        self.port = free_port()
        log = (self.place / f"serve-{self.port}.log").open("w")
        self.server = subprocess.Popen(
            [*CURFEW, "serve", "--port", str(self.port), "--at", at],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        import httpx

        def healthy() -> bool:
            assert self.server is not None
            if self.server.poll() is not None:
                raise AssertionError(f"curfew serve exited:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "curfew serve to answer")

    def log(self) -> str:
        return (self.place / f"serve-{self.port}.log").read_text()

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=5)
        self.server = None

    def screenshot(self, page, name: str, full_page: bool = True) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=full_page)


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:
    """Two Cisco IOS lab routers with two venue lines each (Venue R2-2 in another bureau's
    region), a lab store with a curfew order on Venue R1-2, tokens for each role, and R2
    refusing connections. The server is started by the first scenario."""
    place = tmp_path_factory.mktemp("console")
    if os.environ.get("CURFEW_CONSOLE_SCREENSHOTS"):
        shots = REPO / "api" / "console" / "screenshots"
    else:
        shots = place / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    specs, inventory = city(devices=2, lines_per_device=2)
    inventory["authorities"].append({"name": "east-bureau", "regions": ["620200"]})
    for venue in inventory["venues"]:
        venue["address"] = f"{venue['name'][-3:]} Lanzhou Road"
        if venue["name"] == "Venue R2-2":
            venue["region"] = "620200"
    key = place / "key.pem"
    generate_key(key)
    (place / "checkpoints").mkdir()
    db = place / "curfew.db"
    env = dict(
        os.environ,
        CURFEW_DATABASE_URL=f"sqlite:///{db}",
        CURFEW_ADMIN_TOKEN=ADMIN_TOKEN,
        CURFEW_SIGNING_KEY_FILE=str(key),
        CURFEW_CHECKPOINT_DIR=str(place / "checkpoints"),
        CURFEW_TICK_SECONDS="3600",  # only start-up, transition and requested passes
        CURFEW_DRIFT_SECONDS="86400",
        CURFEW_DEVICE_TIMEOUT="10",
        PYTHONUNBUFFERED="1",
    )
    made = subprocess.run(
        [*CURFEW, "store", "init", "--lab"], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stdout + made.stderr
    with Lab(specs) as lab:
        store = Store.open(env["CURFEW_DATABASE_URL"], clock=SimulatedClock(MIDNIGHT.replace(
            day=24, hour=23, minute=59)))  # fmt: skip
        try:
            import_document(store, lab.inventory(inventory), "lab.yaml")
            verify_inventory(store, connect_driver, devices=["R1"], timeout=10)
            tokens = {
                "noc": create_token(store, "noc", "test")[1],
                "auditor": create_token(store, "auditor", "test")[1],
                "bureau": create_token(store, "bureau", "test", authority="city-bureau")[1],
            }
            issue_order(
                store,
                OrderCreate(
                    venue="Venue R1-2", kind="curfew", reason="after_hours",
                    legal_basis="临兰文执发〔2026〕7号",
                    effective_from=datetime(2026, 11, 20, tzinfo=SHANGHAI),
                    authority="city-bureau",
                ),  # fmt: skip
                "admin",
            )
        finally:
            store.close()
        lab.set_fault("R2", refuse_connections=True)
        result = Night(lab, place, env, tokens, shots)
        try:
            yield result
        finally:
            result.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def visitor(browser, night: Night) -> Callable[[str], object]:
    """A new browser context (its own cookies) logged in with a role's token: its page."""
    contexts = []

    def log_in(role: str):
        context = browser.new_context(
            base_url=night.url, viewport={"width": 1280, "height": 860}, accept_downloads=True
        )
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/console/login")
        page.fill("#token", night.tokens[role])
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/console/login" not in page.url, page.content()
        return page

    yield log_in
    for context in contexts:
        context.close()


def shown_pass(page, other_than: str) -> str:
    """The id of the pass the progress box shows, once it is another than `other_than`."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        shown = page.locator("#progress [data-pass]").text_content() or ""
        if shown and shown != other_than:
            return shown
        page.wait_for_timeout(200)
    raise AssertionError("the progress box never showed the requested pass")


def row(page, selector: str, name: str):
    return page.locator(f"{selector}[data-line='{name}'], {selector}[data-router-row='{name}']")


# -- the evening: the NOC and the bureau ------------------------------------------------------


def test_noc_sees_tonights_plan_with_a_countdown(night: Night, browser):
    night.serve(EVENING)
    context = browser.new_context(base_url=night.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto("/console/tonight")  # no session: to the log-in page
    expect(page).to_have_url(re.compile(r"/console/login"))
    night.screenshot(page, "login")
    page.fill("#token", "cfw_not-a-token")
    page.click("button[type=submit]")
    expect(page.locator(".problem")).to_contain_text("Unknown, revoked or expired token")
    page.fill("#token", night.tokens["noc"])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/tonight$"))
    expect(page.locator("[data-next-transition]")).to_have_text("2026-11-25 00:00:00+08:00")
    countdown = page.locator(".countdown")
    first = countdown.inner_text()
    page.wait_for_timeout(1200)
    assert countdown.inner_text() != first, "the countdown counts down"
    # the curfew on Venue R1-2 cuts R1-L2 at midnight; R1-L1 stays open
    r1 = page.locator("table[data-device='R1']")
    expect(r1.locator("tr[data-line='R1-L2']")).to_contain_text("cut")
    expect(r1.locator("tr[data-line='R1-L1'] td").nth(4)).to_have_text("open")
    expect(page.locator("[data-count='cut_then']")).to_have_text("1")
    night.screenshot(page, "tonight")
    # times in UTC on request
    page.click("[data-tz]")
    expect(page.locator("[data-next-transition]")).to_have_text("2026-11-24 16:00:00 UTC")
    context.close()


def test_bureau_issues_an_order_for_its_venue_and_is_refused_another(night: Night, visitor):
    page = visitor("bureau")
    expect(page).to_have_url(re.compile(r"/console/orders$"))
    nav = page.locator("header nav a").all_inner_texts()
    assert nav == ["Orders"], nav
    # another bureau's venue: the API's refusal, in the API's words
    page.fill("#f-venue", "Venue R2-2")
    page.select_option("#f-kind", "curfew")
    page.select_option("#f-reason", "after_hours")
    page.fill("#f-legal_basis", "临兰文执发〔2026〕9号")
    page.fill("#f-effective_from", "2026-11-25T00:00:00+08:00")
    page.click("[data-issue]")
    expect(page.locator(".problem")).to_contain_text("outside the jurisdiction")
    # a naive instant: refused as the API refuses it, at its field
    page.fill("#f-venue", "Venue R1-1")
    page.fill("#f-effective_from", "2026-11-25T00:00:00")
    page.click("[data-issue]")
    expect(page.locator(".field-error")).to_contain_text("timezone")
    page.fill("#f-effective_from", "2026-11-25T00:00:00+08:00")
    page.click("[data-issue]")
    expect(page).to_have_url(re.compile(r"/console/orders/\d+$"))
    expect(page.locator(".flash")).to_contain_text("issued for Venue R1-1")
    page.goto("/console/orders")
    listed = page.locator("#orders tbody tr")
    expect(listed).to_have_count(2)  # its authority's: the one issued in its name, and this one
    expect(listed.first).to_contain_text("Venue R1-1")
    night.screenshot(page, "orders")


def test_noc_starts_a_pass_sees_a_router_fail_clears_it_retries_and_freezes(
    night: Night, visitor
):
    page = visitor("noc")
    page.goto("/console/passes")
    progress = page.locator("#progress")
    expect(progress.locator("[data-pass]")).not_to_be_empty()  # the start-up pass
    before = progress.locator("[data-pass]").text_content() or ""
    page.click("[data-start-pass]")
    expect(page.locator(".flash")).to_contain_text("Pass requested")
    expect(progress.locator("[data-pass]")).not_to_have_text(before)
    # R2 refuses connections: the pass ends with its two lines failed, shown as they happen
    # (the page reloads itself when a pass it watched ends: every check here waits and retries)
    expect(progress.locator("[data-failures] li").first).to_contain_text("R2", timeout=WAIT_MS)
    expect(progress.locator("[data-state]")).to_have_text("finished")
    expect(progress.locator("[data-devices]")).to_have_text(re.compile(r"^(\d+) of \1 routers$"))
    expect(progress.locator("[data-failures]")).to_contain_text("Unreachable")
    requested = shown_pass(page, before)
    page.reload()  # the log's recent passes show it
    expect(page.locator("#recent")).to_contain_text(requested)
    expect(progress.locator("[data-state]")).to_have_text("finished")
    night.screenshot(page, "passes")

    page.goto("/console/failures")
    r2 = page.locator("section[data-router='R2']")
    expect(r2.locator("[data-router-error]")).to_contain_text("Unreachable")
    expect(r2.locator("tbody tr")).to_have_count(2)
    night.screenshot(page, "failures")

    night.lab.set_fault("R2", refuse_connections=False)
    page.click("[data-retry]")
    expect(page.locator(".flash")).to_contain_text("Pass requested")

    def recovered() -> bool:
        page.goto("/console/failures")
        return page.locator("section[data-router='R2']").count() == 0

    wait_until(recovered, 30, "R2's lines to be verified after the retry")
    page.goto("/console/inventory")
    expect(row(page, "tr", "R2-L1")).to_contain_text("open")
    expect(row(page, "tr", "R2")).to_contain_text("yes")
    night.screenshot(page, "inventory")

    page.goto("/console/failures")
    freeze = page.locator("tr[data-router-row='R2'] form")
    freeze.locator("input[name=reason]").fill("cabinet rewiring, ticket NOC-4711")
    freeze.locator("button").click()
    expect(page.locator(".flash")).to_contain_text("R2 frozen")
    expect(page.locator("tr[data-router-row='R2']")).to_contain_text("cabinet rewiring")
    page.goto("/console/tonight")
    expect(page.locator("text=Frozen routers")).to_be_visible()


# -- the night passes ---------------------------------------------------------------------------


def test_bureau_sees_the_orders_timeline_after_the_lab_night(night: Night, visitor):
    page = visitor("bureau")
    page.click("#orders tbody tr a")
    order_url = page.url.removeprefix(night.url)

    def cut_at_midnight() -> bool:
        page.goto(order_url)
        cuts = page.locator("#timeline [data-cut]")
        return cuts.count() > 0 and cuts.first.inner_text() == "verified"

    wait_until(cut_at_midnight, 60, "the midnight pass to cut the bureau's venue")
    expect(page.locator("#timeline [data-restore]").first).to_have_text("not yet due")

    night.serve(MORNING)  # the night is over: the start-up pass restores at 08:00
    page = visitor("bureau")

    def restored() -> bool:
        page.goto(order_url)
        restores = page.locator("#timeline [data-restore]")
        return restores.count() > 0 and restores.first.inner_text() == "verified"

    wait_until(restored, 60, "the morning pass to restore the bureau's venue")
    window = page.locator("#timeline tbody tr").first
    expect(window.locator("td").first).to_have_text(
        re.compile(r"2026-11-25 00:00:00\+08:00 →\s*2026-11-25 08:00:00\+08:00")
    )
    expect(window).to_contain_text("R1-L1")
    night.screenshot(page, "order")


# -- the morning: the auditor ---------------------------------------------------------------------


def test_auditor_downloads_the_compliance_pdf_and_can_write_nothing(night: Night, visitor):
    page = visitor("auditor")
    expect(page).to_have_url(re.compile(r"/console/audit$"))
    expect(page.locator("[data-verdict]")).to_have_text("verified")
    night.screenshot(page, "audit")

    page.goto("/console/compliance?since=2026-11-24T00:00:00%2B08:00&until=2026-11-26T00:00:00%2B08:00")
    due = page.locator("[data-figure='due']").inner_text()
    on_time = page.locator("[data-figure='on_time']").inner_text()
    failures = page.locator("[data-figure='failures']").inner_text()
    assert due == "2" and on_time == "2", (due, on_time)  # R1-L1 and R1-L2, cut at midnight
    assert int(failures) >= 2  # R2's refused sessions
    night.screenshot(page, "compliance")
    with page.expect_download() as downloaded:
        page.click("[data-download='pdf']")
    pdf = downloaded.value.path()
    text = pdf_text(Path(pdf))
    assert "Curfew compliance report: default" in text
    assert re.search(rf"Windows due\s*{due}\b", text), text
    assert re.search(rf"Cut on time\s*{on_time}\b", text), text
    assert re.search(rf"Failed outcomes\s*{failures}\b", text), text
    joined = re.sub(r"\s+", "", text)  # table cells wrap
    assert "R1-L1" in joined and "VenueR1-2" in joined, text

    # no write control on any page the auditor may open
    for href in page.locator("header nav a").evaluate_all("links => links.map(a => a.href)"):
        page.goto(href)
        assert page.locator("form.write").count() == 0, href
        assert page.locator("[data-start-pass], [data-retry], [data-issue]").count() == 0, href
    page.goto("/console/changes")
    night.screenshot(page, "changes", full_page=False)

    # a POST forged with the auditor's session (and its valid CSRF token) is refused; so is one
    # with no CSRF token at all
    csrf = page.locator("header input[name=csrf]").get_attribute("value")
    forged = page.request.post(
        "/console/devices/1/freeze", form={"csrf": csrf, "reason": "forged"}, max_redirects=0
    )
    assert forged.status == 403, forged.text()
    assert "may not" in forged.text()
    for sent in ({}, {"csrf": "x" * len(csrf)}):  # log-out is the auditor's: CSRF decides
        refused = page.request.post("/console/logout", form=sent, max_redirects=0)
        assert refused.status == 403 and "CSRF" in refused.text(), sent
    page.goto("/console/audit")
    expect(page.locator("[data-verdict]")).to_be_visible()  # still logged in


def pdf_text(path: Path) -> str:
    try:
        from pypdf import PdfReader
    except ImportError:
        done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True)
        return done.stdout
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)
