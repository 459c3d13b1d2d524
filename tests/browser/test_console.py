"""The opt-out desk in Chromium against `make run`'s stack: what the people who decide opt-outs by hand rely on.

Each scenario drives the pages as a person would (clicks, typing, the keyboard), asserts what the page shows, then
checks the API's state after through the JSON API. Each uses its own contact number, so their order does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import PHONE, Console
from tools import send_sms

STOPPED = "+14155550401"
POLITE = "+14155550402"
EVENT_GUEST = "+14155550403"
STRANGER = "+14155550404"
CUSTOMER = "+14155550408"
CHATTY = "+14155550409"
CAMPAIGN = "autumn-sale"


#: Each page, and what it shows once its API answered.
PAGES_AND_WHAT_THEY_SHOW = {
    "inbound": "#inbound-list > *",
    f"number?phone={quote(CUSTOMER)}": "#activity",
    "unsubscribe": "#unsubscribe-form",
    "suppressions": "#suppressions tbody tr",
    "import": "input[name=file]",
    "reports": "#report-tables",
    f"campaigns?campaign={CAMPAIGN}": "#skipped tbody tr",
    "groups": "table tbody tr",
    "settings": "#settings-form",
}
#: The form controls of the page a person cannot tell apart without seeing it: no label, no aria-label.
UNLABELLED_CONTROLS = """
return [...document.querySelectorAll("main input, main select, main textarea")]
  .filter((el) => el.type !== "hidden" && !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
  .map((el) => el.name || el.outerHTML.slice(0, 80));
"""


def text(console: Console, phone: str, body: str) -> None:
    """`phone` texts the demo account through Twilio's webhook, signed as Twilio signs it."""
    answer = send_sms.send("twilio", origination=phone, text=body, demo=console.demo)
    assert answer.ok, answer


def number(console: Console, phone: str, **query: str) -> dict:
    answer = console.api("GET", f"/numbers/{quote(phone, safe='')}", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()


def inbound_card(console: Console, phone: str, body: str):
    """The SMS received page's card of `phone`'s message `body` (the webhook stored it before it answered), found
    with the page's number filter."""
    console.open(f"inbound?phone={quote(phone)}")
    console.wait("#inbound-list article.sms")
    for card in console.driver.find_elements(By.CSS_SELECTOR, "article.sms"):
        assert phone in card.find_element(By.CSS_SELECTOR, ".from").text  # the filter: that number's messages only
        if card.find_element(By.CSS_SELECTOR, ".sms-body").text == body:
            return card
    raise AssertionError(f"no message {body!r} from {phone} in SMS received")


def catch_downloads(console: Console) -> None:
    """The files the page hands the browser to save, kept in the page (`window.__export`) instead."""
    console.driver.execute_script(
        "URL.createObjectURL = (blob) => { window.__export = blob; return 'data:text/csv,'; };"
        "URL.revokeObjectURL = () => {};"
    )


def downloaded(console: Console) -> str:
    return console.driver.execute_async_script("window.__export.text().then(arguments[arguments.length - 1]);")


def send_and_wait(console: Console, request_id: str, body: str) -> dict:
    """The demo account texts CUSTOMER in CAMPAIGN through `POST .../sends`; the stack's worker decides, and the text's
    record once it has (sent, or skipped and why)."""
    request = {
        "request_id": request_id,
        "to": CUSTOMER,
        "sender": console.demo["carriers"]["twilio"]["number"],
        "body": body,
        "campaign_id": CAMPAIGN,
        "user_email": "ana@example.com",
    }
    answer = console.api("POST", "/sends", json={"requests": [request]})
    assert answer.status_code == 202 and answer.json()["queued"] == [request_id], answer.text

    def decided() -> dict | None:
        record = console.api("GET", f"/sends/{quote(request_id, safe='')}")
        return record.json() if record.ok and record.json()["status"] in ("sent", "skipped", "failed") else None

    record = console.eventually(decided)
    assert record, f"{request_id} was not sent within the wait"
    return record


@pytest.fixture(scope="module")
def campaign_then_stop(console: Console) -> None:
    """CUSTOMER is sent the campaign's first text, texts STOP, and the campaign's second text is skipped."""
    assert send_and_wait(console, f"{CAMPAIGN}:1", "Autumn sale: 20% off all week")["status"] == "sent"
    text(console, CUSTOMER, "STOP")
    assert number(console, CUSTOMER)["status"] == "blocked"
    skipped = send_and_wait(console, f"{CAMPAIGN}:2", "Last day of the autumn sale")
    assert (skipped["status"], skipped["reason"]) == ("skipped", "suppressed")


def test_signed_in_with_the_demo_token_kept_in_the_tab_not_in_the_url(console: Console) -> None:
    console.open("inbound")
    console.wait("#account-id", console.demo["account_id"])
    assert console.demo["admin_token"] not in console.driver.current_url
    stored = console.driver.execute_script("return window.sessionStorage.getItem('optout-console-session')")
    assert console.demo["admin_token"] in stored
    assert console.driver.execute_script("return window.localStorage.length") == 0


def test_a_stop_sent_through_the_webhook_appears_in_sms_received(console: Console) -> None:
    # Given a contact who texts STOP through the carrier's webhook
    text(console, STOPPED, "STOP")

    # When the admin opens SMS received
    card = inbound_card(console, STOPPED, "STOP")

    # Then the message is there, newest first, with the detector's verdict and why
    assert "opt out" in card.find_element(By.CSS_SELECTOR, ".detector").text
    # And, the service having unsubscribed the number for it already, it offers nothing more to do but the number
    assert card.find_elements(By.CSS_SELECTOR, "button") == []
    acted = card.find_element(By.CSS_SELECTOR, ".acted")
    assert "the service unsubscribed the number" in acted.text
    assert acted.find_element(By.TAG_NAME, "a").get_attribute("href").endswith(f"#/number?phone={quote(STOPPED)}")
    console.screenshot("sms-received-phone", PHONE)
    # And the page fits a phone's width: nothing scrolls sideways
    console.driver.set_window_size(*PHONE)
    width = console.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    console.driver.set_window_size(1280, 900)
    assert width[0] <= width[1], width


def test_unsubscribe_on_please_dont_text_me_again_blocks_the_number(console: Console) -> None:
    # Given an account whose detector acts alone only when sure (threshold 1, set in Settings), so a polite request
    # waits for a person
    console.open("settings")
    threshold = console.wait("input[name=opt_out_threshold]")
    threshold.clear()
    threshold.send_keys("1")
    console.driver.find_element(By.CSS_SELECTOR, "#settings-form button[type=submit]").click()
    console.wait("#settings-form .notice.ok", "Saved")
    console.screenshot("settings")
    assert console.api("GET", "").json()["account"]["detector"]["opt_out_threshold"] == 1
    try:
        text(console, POLITE, "please don't text me again")
        assert number(console, POLITE)["sendable"] is True

        # When the salesperson opens SMS received, writes a note and presses Unsubscribe on that message
        card = inbound_card(console, POLITE, "please don't text me again")
        assert "Awaiting review" in card.text
        card.find_element(By.CSS_SELECTOR, "input[name=note]").send_keys("asked by phone too")
        card.find_element(By.XPATH, ".//button[text()='Unsubscribe']").click()

        # Then the page says the number is blocked
        console.wait("article[data-message-id] .notice.ok", f"Unsubscribed: {POLITE} is blocked for all messages")
    finally:
        console.api("PUT", "", json={"detector": {"opt_out_threshold": 0.9}})

    # And it is: the contact's own opt-out, with the note in its history
    state = number(console, POLITE)
    assert state["sendable"] is False and state["status"] == "blocked"
    assert [(s["scope"], s["source"]) for s in state["suppressions"]] == [("all", "natural_language")]
    history = console.api("GET", f"/numbers/{quote(POLITE, safe='')}/history").json()["events"]
    assert history[0]["notes"] == "asked by phone too"
    # And SMS received lists the message among those reviewed, no longer among those awaiting review
    console.open(f"inbound?phone={quote(POLITE)}&needs_review=true")
    console.wait("#inbound-list p", "No message matches.")
    assert Select(console.driver.find_element(By.NAME, "review")).first_selected_option.text == "awaiting review"
    console.open(f"inbound?phone={quote(POLITE)}&review=resolved")
    card = console.wait("#inbound-list article.sms", "please don't text me again")
    assert "Reviewed: unsubscribed" in card.text and "(asked by phone too)" in card.text


def test_a_new_unsubscribe_for_a_named_event_blocks_only_that_event(console: Console) -> None:
    # Given the New unsubscribe page
    console.open("unsubscribe")
    form = console.wait("#unsubscribe-form")
    form.find_element(By.NAME, "phone").send_keys("(415) 555-0403")

    # When the admin chooses "a group, event, organisation or employee", finds the event by a word of its name and
    # picks it
    form.find_element(By.CSS_SELECTOR, "input[name=restriction][value=group]").click()
    search = console.wait("input[name=group-search]")
    assert console.driver.switch_to.active_element == search
    Select(form.find_element(By.NAME, "group-kind")).select_by_value("event")
    search.send_keys("GALA")
    option = console.wait("#group-results .choice", "Annual Charity Gala 2026")
    assert "Spring Fair" not in console.driver.find_element(By.ID, "group-results").text
    option.find_element(By.TAG_NAME, "input").click()
    form.find_element(By.NAME, "notes").send_keys("not for the gala, said at the desk")
    console.screenshot("new-unsubscribe")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # Then the result says what was saved
    result = console.wait("#unsubscribe-result .notice.ok")
    assert f"{EVENT_GUEST} is blocked for event Annual Charity Gala 2026" in result.text
    assert "scope group:gala-2026" in result.text

    # And the number is blocked for that event only
    assert number(console, EVENT_GUEST, group="gala-2026")["sendable"] is False
    assert number(console, EVENT_GUEST, group="spring-fair")["sendable"] is True
    state = number(console, EVENT_GUEST)
    assert state["status"] == "partly_blocked"
    assert [(s["scope"], s["source"], s["notes"]) for s in state["suppressions"]] == [
        ("group:gala-2026", "manual", "not for the gala, said at the desk")
    ]


def test_a_lift_of_a_contacts_own_opt_out_shows_the_refusal(console: Console) -> None:
    # Given a contact who texted STOP
    text(console, STOPPED, "STOP")
    assert number(console, STOPPED)["status"] == "blocked"

    # When the admin looks the number up in a national format and asks to lift it, with a note
    console.open("number")
    field = console.wait("input[name=phone]")
    field.send_keys("415-555-0401\n")
    status = console.wait("#number-status", "Blocked for all messages")
    row = console.wait("#suppressions-of-number tr[data-scope=all]")
    assert "only the contact lift it, by texting START" in row.text
    row.find_element(By.XPATH, ".//button[text()='Lift…']").click()
    row.find_element(By.NAME, "notes").send_keys("the customer called")
    row.find_element(By.CSS_SELECTOR, "form.lift button[type=submit]").click()

    # Then the page shows the refusal and why
    refusal = console.wait("#suppressions-of-number .notice.error")
    assert refusal.text.startswith("Refused: ") and "keyword" in refusal.text
    assert status.text == "Blocked for all messages."
    console.wait("#activity li", "Opt out")
    # And nothing changed
    assert number(console, STOPPED)["status"] == "blocked"


def test_a_lift_the_rules_allow_goes_through_with_its_note(console: Console) -> None:
    # Given a manual suppression for one event
    body = {"phone": "+14155550405", "scope": "group:spring-fair", "notes": "by mistake"}
    assert console.api("POST", "/suppressions", json=body).status_code == 201

    # When the admin lifts it from the number's page
    console.open(f"number?phone={quote('+14155550405')}")
    row = console.wait("#suppressions-of-number tr[data-scope='group:spring-fair']")
    assert "Event Spring Fair (spring-fair)" in row.text
    row.find_element(By.XPATH, ".//button[text()='Lift…']").click()
    row.find_element(By.NAME, "notes").send_keys("put back on the list")
    row.find_element(By.CSS_SELECTOR, "form.lift button[type=submit]").click()

    # Then the number is sendable, and the lift is in its history with the note
    console.wait("#number-status", "Sendable")
    assert number(console, "+14155550405")["sendable"] is True
    console.wait("#activity li", "put back on the list")


def test_an_sms_body_that_is_html_renders_as_text(console: Console) -> None:
    # Given a stranger's text that would run script if it were read as HTML
    payload = "<img src=x onerror=alert(1)>"
    text(console, STRANGER, payload)
    console.driver.execute_script("window.__ran = false; window.alert = () => { window.__ran = true; };")

    # When it is shown in SMS received, dismissed there (so the body is in the number's history too)
    card = inbound_card(console, STRANGER, payload)
    card.find_element(By.XPATH, ".//button[text()='Dismiss']").click()
    console.wait("article[data-message-id] .notice.ok", "Dismissed")

    # Then it is the literal text, no image was made of it, and nothing ran
    for page in ("inbound", f"number?phone={quote(STRANGER)}"):
        console.open(page)
        console.wait(".sms-body", payload)
        assert console.driver.find_elements(By.CSS_SELECTOR, "main img") == []
    assert console.driver.execute_script("return window.__ran") is not True
    try:
        console.driver.switch_to.alert.dismiss()
        raise AssertionError("the SMS body ran script")
    except NoAlertPresentException:
        pass


def test_sms_received_narrows_by_number_intent_and_review(console: Console) -> None:
    # Given a contact who asked a question, then texted STOP
    text(console, CHATTY, "what time do you open on Saturday?")
    text(console, CHATTY, "STOP")

    # When the admin filters SMS received by that number, in any format, and by intent, with the page's form
    console.open("inbound")
    form = console.wait("#inbound-filters")
    form.find_element(By.NAME, "phone").send_keys("(415) 555-0409")
    Select(form.find_element(By.NAME, "intent")).select_by_value("opt_out")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # Then only that number's STOP is listed, and the filter is in the page's address (a link to share)
    console.wait("#inbound-list article.sms", "STOP")
    bodies = [card.text for card in console.driver.find_elements(By.CSS_SELECTOR, "#inbound-list .sms-body")]
    assert bodies == ["STOP"]
    assert "intent=opt_out" in console.driver.current_url and "phone=" in console.driver.current_url
    # And by intent alone: every opt-out of the account, and none of the questions
    console.open("inbound?intent=opt_out")
    console.wait("#inbound-list article.sms", "STOP")
    verdicts = [e.text for e in console.driver.find_elements(By.CSS_SELECTOR, "#inbound-list .detector strong")]
    assert verdicts and set(verdicts) == {"opt out"}, verdicts
    console.screenshot("sms-received")
    # And by review: none of CHATTY's was reviewed (the detector was sure of both)
    console.open(f"inbound?phone={quote(CHATTY)}&review=resolved")
    console.wait("#inbound-list p", "No message matches.")


@pytest.mark.usefixtures("campaign_then_stop")
def test_reports_count_the_stop_in_the_chart_and_the_tables(console: Console) -> None:
    # Given a contact who texted STOP after a campaign's text (and the other scenarios' opt-outs, today)
    report = console.api("GET", "/reports/opt-outs", params={"by": "day"}).json()
    today = report["rows"][-1]
    by_keyword = console.api("GET", "/reports/opt-outs", params={"by": "keyword"}).json()["rows"]
    keywords = {row["key"]: row for row in by_keyword}
    assert keywords["STOP"]["opt_outs"] >= 1

    # When the admin opens Reports
    console.open("reports")
    console.wait("#report-tables")

    # Then the chart has today's STOPs as its keyword part, the tables count them, and the campaign is charged
    bar = console.wait("#report svg rect.bar.keyword")
    assert bar.get_attribute("textContent") == f"{today['period']}: {today['by_source']['keyword']} keyword"
    opt_outs = report["totals"]["opt_outs"]
    assert console.wait("#report-totals").text.startswith(f"{opt_outs} opt-out{'' if opt_outs == 1 else 's'},")
    row = console.wait("#by-keyword tbody tr", "STOP")
    assert row.text.split() == ["STOP", str(keywords["STOP"]["opt_outs"]), str(keywords["STOP"]["opt_ins"])]
    source = console.wait("#by-source tbody tr", "keyword")
    assert source.text.split()[:2] == ["keyword", str(today["by_source"]["keyword"])]
    campaign = console.wait("#by-campaign tbody tr", CAMPAIGN)
    assert campaign.text.split() == [CAMPAIGN, "1", "1", "100%"]
    console.wait("#by-day tbody tr", today["period"])
    console.screenshot("reports")

    # And the rows by keyword download as the API's CSV
    catch_downloads(console)
    Select(console.driver.find_element(By.NAME, "csv-by")).select_by_value("keyword")
    console.driver.find_element(By.XPATH, "//button[text()='Download CSV']").click()
    console.wait("#report .notice.ok", "Downloaded")
    lines = downloaded(console).splitlines()
    assert lines[0] == "keyword,opt_outs,opt_ins"
    assert f"STOP,{keywords['STOP']['opt_outs']},{keywords['STOP']['opt_ins']}" in lines


@pytest.mark.usefixtures("campaign_then_stop")
def test_campaigns_list_the_skipped_number_and_why(console: Console) -> None:
    # Given a campaign whose second text went to a number that had texted STOP since its first
    # When the admin opens Campaigns (which lists the campaigns with opt-outs lately) and asks for it
    console.open("campaigns")
    console.wait("#recent-campaigns li", f"{CAMPAIGN} · 1 sent, 1 opt-out")
    console.wait("input[name=campaign]").send_keys(CAMPAIGN + "\n")

    # Then its counts, and the number skipped with why: blocked for all messages, by the contact's keyword
    counts = console.wait("#campaign-counts", f"Campaign {CAMPAIGN}")
    assert "2 texts: 1 sent." in counts.text and "suppressed: 1" in counts.text
    row = console.wait(f"#skipped tr[data-phone='{CUSTOMER}']")
    assert "the number is blocked" in row.text
    assert "All messages (all for business), by keyword (the contact texted STOP or the like)" in row.text
    assert f"{CAMPAIGN}:2" in row.text
    console.screenshot("campaigns")

    # And every text of the campaign downloads as CSV, the skipped one with its reason
    catch_downloads(console)
    console.driver.find_element(By.XPATH, "//button[text()='Download CSV of every text']").click()
    console.wait("#campaign-counts .notice.ok", "Downloaded")
    lines = downloaded(console).splitlines()
    assert lines[0] == "request_id,to,status,reason,blocked_by,provider,error_code,detail,updated_at"
    assert sorted(line.split(",")[:4] for line in lines[1:]) == [
        [f"{CAMPAIGN}:1", CUSTOMER, "sent", ""],
        [f"{CAMPAIGN}:2", CUSTOMER, "skipped", "suppressed"],
    ]

    # And the number links to its page
    row.find_element(By.LINK_TEXT, CUSTOMER).click()
    console.wait("#number-status", "Blocked for all messages")


@pytest.mark.usefixtures("campaign_then_stop")
def test_the_number_page_shows_the_texts_sent_the_reply_and_the_change(console: Console) -> None:
    # Given a number sent a campaign's text, which replied STOP, and was then skipped by the campaign's next text
    # When the admin looks it up
    console.open(f"number?phone={quote(CUSTOMER)}")
    console.wait("#activity li")

    # Then its history is every one of them, newest first: the skipped text, the STOP and the opt-out it made, the
    # text sent
    items = console.driver.find_elements(By.CSS_SELECTOR, "#activity > li")
    kinds = [item.get_attribute("data-kind") for item in items]
    assert kinds[0] == "sent" and kinds[-1] == "sent" and sorted(kinds[1:3]) == ["change", "reply"], kinds
    skipped, sent = items[0], items[-1]
    assert "Text not sent (skipped)" in skipped.text
    assert "blocked: All messages (all for business), by keyword" in skipped.text
    assert skipped.find_element(By.CSS_SELECTOR, ".sms-body").text == "Last day of the autumn sale"
    assert "Text sent" in sent.text and f"campaign {CAMPAIGN}" in sent.text and "by ana@example.com" in sent.text
    assert sent.find_element(By.CSS_SELECTOR, ".sms-body").text == "Autumn sale: 20% off all week"
    reply = console.wait("#activity li[data-kind=reply]")
    assert reply.find_element(By.CSS_SELECTOR, ".sms-body").text == "STOP" and "read as opt out" in reply.text
    change = console.wait("#activity li[data-kind=change]")
    assert change.text.split("\n")[0].endswith("Opt out · all · keyword")
    console.screenshot("number")


def test_a_number_search_asks_the_service_not_only_the_numbers_loaded(console: Console) -> None:
    # Given three suppressed numbers and a Suppressions page that loads one number a page
    for phone in ("+14155550410", "+14155550411", "+14155550412"):
        body = {"phone": phone, "scope": "all", "notes": "asked by phone"}
        assert console.api("POST", "/suppressions", json=body).status_code == 201
    console.open("suppressions?page_size=1")
    loaded = console.wait("#suppressions td a").text
    later = next(phone for phone in ("+14155550410", "+14155550411") if phone != loaded)
    search = console.driver.find_element(By.NAME, "phone")

    # When the admin searches a number that is not on the loaded page, in a national format, the service answers
    search.send_keys(f"(415) 555-{later[-4:]}")
    row = console.wait("#suppressions tbody tr", later)
    assert "all" in row.text and "manual" in row.text and "asked by phone" in row.text

    # A number with no suppression is said to be not suppressed, by the service
    search.clear()
    search.send_keys("+14155550498")
    console.wait("#suppressions tbody tr.none", "+14155550498: This number is not suppressed.")

    # A part of a number filters only the loaded numbers, says so, and offers the next page: never a false "none"
    search.clear()
    search.send_keys("0499")
    none = console.wait("#suppressions tbody tr.none", "loaded so far")
    assert "No suppression matches" not in none.text
    partial = console.wait("#suppressions-more .partial", "The filters cover only the 1 number loaded so far.")
    partial.find_element(By.XPATH, ".//button[text()='More']").click()
    console.wait("#suppressions-more .partial", "the 2 numbers loaded so far")
    assert console.errors() == []


#: The browser's fetch, for `path`'s listing only, answering pages that go on: with no cursor an empty page and a
#: cursor; with cursor "1" the server's real first page (when `real`), then empty pages each with a further cursor.
#: The calls are counted in window.listingCalls. The stub lasts until the page is loaded again (`unstub`).
ENDLESS_LISTING = """
const [path, real] = arguments;
const fetchFromServer = window.fetch.bind(window);
window.listingCalls = 0;
window.fetch = async (url, options) => {
  const address = new URL(url, window.location.href);
  if (!address.pathname.endsWith(path)) return fetchFromServer(url, options);
  window.listingCalls += 1;
  const cursor = Number(address.searchParams.get("cursor") || 0);
  address.searchParams.delete("cursor");
  let answer = {groups: [], messages: []};
  if (cursor === 1 && real) answer = await (await fetchFromServer(address.toString(), options)).json();
  answer.next_cursor = String(cursor + 1);
  return new Response(JSON.stringify(answer), {status: 200, headers: {"Content-Type": "application/json"}});
};
"""


@pytest.fixture
def unstub(console: Console) -> Iterator[None]:
    """The browser's own fetch again after the test: the console loaded afresh."""
    yield
    console.driver.refresh()
    console.wait("main")


@pytest.mark.usefixtures("unstub")
def test_a_group_search_follows_the_pages_that_go_on_and_offers_more(console: Console) -> None:
    # Given a search that answers an empty page first, then the match, then pages that go on
    console.open("groups")
    console.wait("table td", "Annual Charity Gala 2026")
    console.driver.execute_script(ENDLESS_LISTING, "/groups", True)
    # When the admin looks for the gala, the page follows the cursor to it, not "None."
    console.driver.execute_script(
        "const q = document.querySelector('input[name=q]'); q.value = 'gala'; q.dispatchEvent(new Event('input'))"
    )
    console.wait("#groups-more button", "More")
    rows = [row.text for row in console.driver.find_elements(By.CSS_SELECTOR, "table tbody tr")]
    assert any("Annual Charity Gala 2026" in row for row in rows) and not any(row == "None." for row in rows)
    # and stops after ten more calls, offering "More" for the rest
    assert console.driver.execute_script("return window.listingCalls") == 11
    console.driver.find_element(By.XPATH, "//div[@id='groups-more']/button[text()='More']").click()
    console.wait("#groups-more button", "More")
    assert console.driver.execute_script("return window.listingCalls") == 22
    assert console.errors() == []


@pytest.mark.usefixtures("unstub")
def test_sms_received_stops_after_a_few_calls_and_offers_to_continue(console: Console) -> None:
    # Given a log whose narrowed pages are all empty and go on
    console.open("groups")
    console.wait("table td", "Annual Charity Gala 2026")
    console.driver.execute_script(ENDLESS_LISTING, "/inbound", False)
    console.driver.execute_script("window.location.hash = '#/inbound?intent=opt_out'")
    # SMS received says how far it searched, without claiming that nothing matches, and goes on when asked
    console.wait("#inbound-list + div .searched", "Searched up to 5,000 messages so far, 0 shown")
    assert console.driver.execute_script("return window.listingCalls") == 5
    assert "No message matches" not in console.driver.find_element(By.ID, "inbound-list").text
    console.driver.find_element(By.XPATH, "//button[text()='Continue']").click()
    console.wait("#inbound-list + div .searched", "Searched up to 10,000 messages so far")
    assert console.driver.execute_script("return window.listingCalls") == 10
    assert console.errors() == []


def test_every_page_opens_without_a_script_error(console: Console) -> None:
    # Suppressions, with the list and its filters
    body = {"phone": "+14155550407", "scope": "group:vip", "notes": "asked by email"}
    assert console.api("POST", "/suppressions", json=body).status_code == 201
    console.open("suppressions")
    console.wait("#suppressions td a", "+14155550407")
    console.screenshot("suppressions")
    Select(console.driver.find_element(By.NAME, "source")).select_by_value("manual")
    assert all("manual" in row.text for row in console.driver.find_elements(By.CSS_SELECTOR, "#suppressions tbody tr"))
    # and its CSV export (the file the browser would save, caught on its way)
    catch_downloads(console)
    console.driver.find_element(By.XPATH, "//button[text()='Export CSV']").click()
    console.wait(".notice.ok", "Exported")
    exported = downloaded(console)
    assert exported.startswith("phone,scope,source,since,actor,notes,event_id")
    assert "+14155550407,group:vip,manual," in exported

    # Import: a dry run of a CSV, its progress and its rejected rows
    console.open("import")
    csv_file = console.upload_file(
        "import.csv", "phone,scope,notes\n+14155550406,all,from the CRM\nnot a number,all,\n"
    )
    console.wait("input[name=file]").send_keys(str(csv_file))
    console.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    console.wait("#import-progress", "Status: done")
    console.wait("#import-progress table", "not a number")
    assert number(console, "+14155550406")["sendable"] is True  # a dry run changes nothing
    console.screenshot("import")

    # The chart itself: inline SVG built with DOM calls, a stacked bar per day, a part per source (drawn here from
    # rows in the contract's shape, whatever this server's reports answer)
    bars = console.driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        import("./chart.js").then(({optOutChart}) => {
          const rows = [{period: "2026-11-30", opt_outs: 3, by_source: {keyword: 2, manual: 1}},
                        {period: "2026-12-01", opt_outs: 1, by_source: {"<b>x</b>": 5, carrier: 1}}];
          const svg = optOutChart(rows, "test chart");
          document.querySelector("main").append(svg);
          done([...svg.querySelectorAll("rect")].map((r) => [r.getAttribute("class"), r.textContent]));
        });"""
    )
    assert bars == [
        ["bar keyword", "2026-11-30: 2 keyword"],
        ["bar manual", "2026-11-30: 1 manual"],
        ["bar carrier", "2026-12-01: 1 carrier"],
    ]
    console.open("groups")
    console.wait("table td", "Annual Charity Gala 2026")
    console.screenshot("groups")
    # The id fields take what the API takes (a slash included), their patterns valid in the browser's regex syntax
    group_id = console.driver.find_element(By.NAME, "id")
    group_id.send_keys("fair/2027")
    assert console.driver.execute_script("return arguments[0].checkValidity()", group_id) is True

    # Every page at a phone's width: every control has a label, and nothing scrolls sideways
    console.driver.set_window_size(*PHONE)
    try:
        for page, shown in PAGES_AND_WHAT_THEY_SHOW.items():
            console.open(page)
            console.wait(shown)
            unlabelled = console.driver.execute_script(UNLABELLED_CONTROLS)
            assert unlabelled == [], (page, unlabelled)
            width = console.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], (page, width)
    finally:
        console.driver.set_window_size(1280, 900)

    console.open("")
    console.driver.execute_script("window.sessionStorage.clear()")
    console.driver.refresh()
    console.wait("input[name=account]")
    console.screenshot("sign-in")
    assert console.errors() == []
    console.sign_in()
