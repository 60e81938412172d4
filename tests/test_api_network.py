"""Where viewers are sent: the machine's LAN addresses (found with a faked network), the start-up
banner's links and ``/api/access``'s join link when the facilitator opened the page on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.network import NO_NETWORK, PROBES, lan_addresses, viewers_base_url
from api.server import banner
from api.settings import Settings
from api_fixtures import scripted_session

CODE, TOKEN = "viewer-code-1", "facilitator-token-1"
CONTROL = {"Authorization": f"Bearer {TOKEN}"}


def routes(table: dict[str, str]) -> dict[str, str | None]:
    """A fake kernel's answer for each probe: the source address, or None (no route)."""
    return {p: table.get(p) for p in PROBES}


def test_the_default_route_comes_first_and_loopback_is_dropped() -> None:
    # Debian's /etc/hosts maps the machine's name to 127.0.1.1: only the route finds 192.168.1.20
    answer = routes({PROBES[0]: "192.168.1.20", "192.168.255.254": "192.168.1.20", "10.255.255.254": "10.8.0.5"})
    found = lan_addresses(answer.get, lambda: ["127.0.1.1", "192.168.1.20", "169.254.3.4"])
    assert found == ["192.168.1.20", "10.8.0.5"]


def test_a_room_network_without_internet_is_found() -> None:
    answer = routes({"192.168.255.254": "192.168.50.2"})  # no default route, one private LAN
    assert lan_addresses(answer.get, lambda: []) == ["192.168.50.2"]


def test_no_network_at_all() -> None:
    assert lan_addresses(routes({}).get, lambda: ["127.0.0.1", "127.0.1.1"]) == []


def test_this_machine_finds_something_real() -> None:
    """The real finders run without error; each address they give is a plain IPv4 address."""
    for address in lan_addresses():
        assert address.count(".") == 3 and not address.startswith("127.")


@pytest.mark.parametrize(
    "base, served_on, addresses, expected",
    [
        ("http://127.0.0.1:8731/", "0.0.0.0", ["192.0.2.2"], "http://192.0.2.2:8731/"),
        ("http://localhost:8000/", "0.0.0.0", ["192.0.2.2", "10.0.0.3"], "http://192.0.2.2:8000/"),
        ("http://[::1]:8000/", "::", ["192.0.2.2"], "http://192.0.2.2:8000/"),
        ("http://room-pc.local:8000/", "0.0.0.0", ["192.0.2.2"], "http://room-pc.local:8000/"),  # already a LAN name
        ("http://192.0.2.9:8000/", "0.0.0.0", ["192.0.2.2"], "http://192.0.2.9:8000/"),
        ("http://127.0.0.1:8000/", "127.0.0.1", ["192.0.2.2"], "http://127.0.0.1:8000/"),  # served on loopback only
        ("http://127.0.0.1:8000/", "0.0.0.0", [], "http://127.0.0.1:8000/"),  # no network
    ],
)
def test_viewers_base_url(base: str, served_on: str, addresses: list[str], expected: str) -> None:
    assert viewers_base_url(base, served_on, addresses) == expected


def test_banner_prints_the_viewers_links_or_says_there_is_no_network() -> None:
    session, _ = scripted_session()
    settings = Settings(code=CODE, token=TOKEN, port=8731)
    text = banner(settings, session, addresses=["192.0.2.2", "10.0.0.3"])
    assert f"  facilitator (this machine): http://127.0.0.1:8731/#code={TOKEN}\n" in text
    assert f"  viewers on the room's network: http://192.0.2.2:8731/#code={CODE}\n" in text
    assert f"  viewers on the room's network: http://10.0.0.3:8731/#code={CODE}\n" in text
    alone = banner(settings, session, addresses=[])
    assert f"  viewers: {NO_NETWORK}: http://127.0.0.1:8731/#code={CODE}\n" in alone
    local = banner(Settings(code=CODE, token=TOKEN, host="127.0.0.1"), session, addresses=["192.0.2.2"])
    assert "192.0.2.2" not in local and "viewers: this machine only (--host 127.0.0.1)" in local


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr("api.routes.lan_addresses", lambda: ["192.0.2.2"])
    session, _ = scripted_session()
    app = create_app(Settings(code=CODE, token=TOKEN), session=session)
    with TestClient(app, base_url="http://127.0.0.1:8731") as c:
        yield c


def test_access_sends_viewers_to_the_lan_address(client: TestClient) -> None:
    assert client.get("/api/access", headers=CONTROL).json()["join_url"] == f"http://192.0.2.2:8731/#code={CODE}"
    named = client.get("/api/access", headers={**CONTROL, "Host": "room-pc.local:8731"}).json()
    assert named["join_url"] == f"http://room-pc.local:8731/#code={CODE}"


def test_access_keeps_loopback_without_a_network(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("api.routes.lan_addresses", lambda: [])
    assert client.get("/api/access", headers=CONTROL).json()["join_url"] == f"http://127.0.0.1:8731/#code={CODE}"


def test_the_host_names_addresses_are_looked_up_once_in_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking the name up may wait on DNS (an offline room): /api/access must not do it every call."""
    from api import network

    calls: list[str] = []

    def lookup(name: str, *args: object) -> list[tuple[object, ...]]:
        calls.append(name)
        return [(0, 0, 0, "", ("192.0.2.7", 0))]

    monkeypatch.setattr(network.socket, "getaddrinfo", lookup)
    monkeypatch.setattr(network, "_names", None)
    assert network._name_addresses() == ["192.0.2.7"] and network._name_addresses() == ["192.0.2.7"]
    assert len(calls) == 1
    monkeypatch.setattr(network, "_names", (network.time.monotonic() - network.NAME_TTL_S - 1, ["192.0.2.7"]))
    network._name_addresses()
    assert len(calls) == 2  # stale: looked up again, so a changed network is followed
