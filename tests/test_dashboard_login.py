"""A shared link opened by a browser that has not logged in: the login form, then what it asked for.

API clients (no ``text/html`` in Accept) keep the JSON 401. ``next`` only ever leads to a path of
this site (no open redirect), on the form, the fragment login and an already logged-in browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.security import safe_next
from security_fixtures import CODE, VIEW, app_client

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # what Chromium sends
FOREIGN = ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "http:/x",
           "javascript:alert(1)", "evil.example", " /x", ""]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with app_client() as c:
        yield c


def test_a_report_link_leads_through_the_login_to_the_report(client: TestClient) -> None:
    mid = client.get("/api/state", headers=VIEW).json()["meeting_id"]
    link = f"/api/meetings/{mid}/report?format=html"
    r = client.get(link, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["cache-control"] == "no-store"
    login_url = r.headers["location"]
    assert parse_qs(urlsplit(login_url).query)["next"] == [link]
    form = client.get(login_url, headers=HTML)
    assert form.status_code == 200 and "Meeting code" in form.text  # a first visit: no console error
    assert f'name="next" value="/api/meetings/{mid}/report?format=html"' in form.text
    wrong = client.post("/login", data={"code": "nope", "next": link}, follow_redirects=False)
    assert wrong.status_code == 401 and f'value="/api/meetings/{mid}/report?format=html"' in wrong.text  # kept
    good = client.post("/login", data={"code": CODE, "next": link}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == link
    report = client.get(link, headers=HTML)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")


def test_api_clients_still_get_the_json_401(client: TestClient) -> None:
    mid = client.get("/api/state", headers=VIEW).json()["meeting_id"]
    for accept in ("*/*", "application/json"):
        r = client.get(f"/api/meetings/{mid}/report?format=html", headers={"Accept": accept}, follow_redirects=False)
        assert r.status_code == 401 and "meeting code required" in r.json()["detail"], accept
    wrong = client.get("/api/state", headers={**HTML, "Authorization": "Bearer wrong"}, follow_redirects=False)
    assert wrong.status_code == 401  # a client that sent a token is an API client
    post = client.post(f"/api/meetings/{mid}/end", headers=HTML, follow_redirects=False)
    assert post.status_code == 401  # only reads are redirected


@pytest.mark.parametrize("target", FOREIGN)
def test_next_never_leaves_the_site(client: TestClient, target: str) -> None:
    assert safe_next(target) == "/"
    r = client.post("/login", data={"code": CODE, "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    logged_in = client.get("/", params={"next": target}, follow_redirects=False)
    assert logged_in.status_code == 200 and "/static/app.js" in logged_in.text
    client.cookies.clear()
    form = client.get("/", params={"next": target})
    assert 'name="next" value="/"' in form.text


def test_an_old_code_link_keeps_next_and_a_logged_in_browser_goes_on(client: TestClient) -> None:
    r = client.get("/", params={"code": CODE, "next": "/api/state"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/?next=%2Fapi%2Fstate#code={CODE}"
    client.post("/login", data={"code": CODE}, follow_redirects=False)
    on = client.get("/", params={"next": "/api/state"}, follow_redirects=False)
    assert on.status_code == 303 and on.headers["location"] == "/api/state"
    assert safe_next("/api/meetings/a%20b/report?format=pdf") == "/api/meetings/a%20b/report?format=pdf"


@pytest.mark.browser
def test_in_chromium_a_report_link_asks_for_the_code_then_shows_the_report() -> None:
    from playwright.sync_api import expect, sync_playwright

    from security_fixtures import live_room
    from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

    with live_room(seconds=5.0) as room, sync_playwright() as p:
        mid = room.session.id
        link = f"{room.base}/api/meetings/{mid}/report?format=html"
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(link)
            expect(page.locator("#code")).to_be_visible()  # the login form, not {"detail": ...}
            assert not errors, errors  # the first visit answers 200: no console error
            page.fill("#code", CODE)
            page.click("text=Open the dashboard")
            page.wait_for_url(link)
            assert page.evaluate("document.contentType") == "text/html" and mid[:8] in page.content()
            page.wait_for_load_state("networkidle")
            assert not errors, errors  # the report asks for nothing that is not there (no favicon 404)
            other = browser.new_page()  # a link with the code in its fragment logs in by itself
            other.goto(f"{link}#code={CODE}")
            other.wait_for_url(link)
            assert other.evaluate("document.contentType") == "text/html"
        finally:
            browser.close()
