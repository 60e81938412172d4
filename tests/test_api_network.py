"""Where viewers are sent: the machine's LAN addresses (found with a faked network, on this machine,
and in a network namespace holding an offline room LAN), the start-up banner's links and
``/api/access``'s join link when the facilitator opened the page on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.network import (
    DEFAULT_ROUTE_PROBE,
    NO_NETWORK,
    _interface_addresses,
    _route_source,
    lan_addresses,
    viewers_base_url,
)
from api.server import banner
from api.settings import Settings
from api_fixtures import scripted_session

CODE, TOKEN = "viewer-code-1", "facilitator-token-1"
CONTROL = {"Authorization": f"Bearer {TOKEN}"}


REPO = Path(__file__).resolve().parents[1]


def default_route(source: str | None) -> Callable[[str], str | None]:
    """A fake kernel: ``source`` for the default route's probe (None: no default route)."""

    def route(target: str) -> str | None:
        assert target == DEFAULT_ROUTE_PROBE
        return source

    return route


def test_the_default_route_comes_first_then_the_interfaces_and_loopback_is_dropped() -> None:
    # Debian's /etc/hosts maps the machine's name to 127.0.1.1: the name alone finds nothing
    interfaces = [("lo", "127.0.0.1"), ("docker0", "172.17.0.1"), ("tun0", "10.8.0.5"), ("wlan0", "192.168.1.20"),
                  ("eth1", "169.254.3.4")]
    found = lan_addresses(default_route("192.168.1.20"), lambda: ["127.0.1.1", "192.168.1.20"], lambda: interfaces)
    assert found == ["192.168.1.20", "172.17.0.1", "10.8.0.5"]  # once each; bridges and VPNs after the real ones


def test_an_offline_room_prefers_the_room_card_to_a_vpn() -> None:
    # no default route; Tailscale (100.64.0.0/10) came up before the room's USB adapter
    interfaces = [("lo", "127.0.0.1"), ("tailscale0", "100.101.102.103"), ("wg0", "10.6.0.2"), ("enx00e04c", "192.168.1.20"),
                  ("weird", "100.64.0.9")]
    assert lan_addresses(default_route(None), lambda: [], lambda: interfaces)[0] == "192.168.1.20"


def test_a_room_network_without_a_gateway_is_found_by_its_interface() -> None:
    # an offline room LAN (192.168.1.0/24, no default route): no route probe would find it
    interfaces = [("lo", "127.0.0.1"), ("virbr0", "192.168.122.1"), ("enp3s0", "192.168.1.20")]
    assert lan_addresses(default_route(None), lambda: [], lambda: interfaces) == ["192.168.1.20", "192.168.122.1"]


def test_no_network_at_all() -> None:
    assert lan_addresses(default_route(None), lambda: ["127.0.0.1", "127.0.1.1"], lambda: [("lo", "127.0.0.1")]) == []


def test_this_machine_finds_its_interfaces_addresses() -> None:
    """The real finders: loopback's interface is read, the default route's address comes first, and
    everything found is one of this machine's addresses (``hostname -I``; it also lists cards that
    are down, such as an idle docker0, which are rightly not offered)."""
    assert ("lo", "127.0.0.1") in _interface_addresses()
    found = lan_addresses()
    for address in found:
        assert address.count(".") == 3 and not address.startswith("127.")
    default = _route_source(DEFAULT_ROUTE_PROBE)
    if default is not None and not ipaddress.ip_address(default).is_loopback:
        assert found[0] == default
    if shutil.which("hostname"):
        listed = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout.split()
        assert set(found) <= set(listed), (listed, found)


def _namespaces() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0


@pytest.mark.skipif(not _namespaces(), reason="needs unshare -rn (user and network namespaces) and ip")
def test_an_offline_room_lan_is_found_for_real_in_a_network_namespace() -> None:
    """A machine whose only network is 192.168.1.0/24 without a gateway, added as a second address
    beside another, and a card that is down: the real finders, no fakes."""
    setup = ("ip link set lo up && ip link add room0 type veth peer name room1 && "
             "ip addr add 10.9.0.2/24 dev room0 && ip addr add 192.168.1.20/24 dev room0 && "
             "ip link set room0 up && ip link set room1 up && "
             "ip link add dead0 type veth peer name dead1 && ip addr add 192.168.7.7/24 dev dead0 && ")
    code = "from api.network import lan_addresses; print(lan_addresses())"
    proc = subprocess.run(["unshare", "-rn", "sh", "-c", setup + f'"{sys.executable}" -c "{code}"'], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['10.9.0.2', '192.168.1.20']"  # the secondary address too; the card that is down not


@pytest.mark.parametrize(
    "base, served_on, addresses, expected",
    [
        ("http://127.0.0.1:8731/", "0.0.0.0", ["192.0.2.2"], "http://192.0.2.2:8000/"),
        ("http://localhost:8000/", "0.0.0.0", ["192.0.2.2", "10.0.0.3"], "http://192.0.2.2:8000/"),
        ("http://localhost:9000/", "0.0.0.0", ["192.0.2.2"], "http://192.0.2.2:8000/"),  # an SSH tunnel's port
        ("http://localhost/", "0.0.0.0", ["192.0.2.2"], "http://192.0.2.2:8000/"),  # a proxy on port 80
        ("https://localhost/", "0.0.0.0", ["192.0.2.2"], "http://192.0.2.2:8000/"),  # a local TLS proxy: the server's own
        ("http://[::1]:8000/", "::", ["192.0.2.2"], "http://192.0.2.2:8000/"),
        ("http://room-pc.local:8443/", "0.0.0.0", ["192.0.2.2"], "http://room-pc.local:8443/"),  # a LAN name: kept
        ("http://192.0.2.9:9000/", "0.0.0.0", ["192.0.2.2"], "http://192.0.2.9:9000/"),
        ("http://127.0.0.1:9000/", "127.0.0.1", ["192.0.2.2"], "http://127.0.0.1:9000/"),  # served on loopback only
        ("http://127.0.0.1:9000/", "0.0.0.0", [], "http://127.0.0.1:9000/"),  # no network
    ],
)
def test_viewers_base_url(base: str, served_on: str, addresses: list[str], expected: str) -> None:
    """A loopback host becomes the LAN address with the port the server listens on (here 8000)."""
    assert viewers_base_url(base, served_on, addresses, 8000) == expected


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
    app = create_app(Settings(code=CODE, token=TOKEN, port=8731), session=session)
    with TestClient(app, base_url="http://127.0.0.1:8731") as c:
        yield c


def test_access_sends_viewers_to_the_lan_address(client: TestClient) -> None:
    assert client.get("/api/access", headers=CONTROL).json()["join_url"] == f"http://192.0.2.2:8731/#code={CODE}"
    # through an SSH tunnel (localhost:9000 to the room's 8731) viewers still get the port the server listens on
    tunnel = client.get("/api/access", headers={**CONTROL, "Host": "localhost:9000"}).json()
    assert tunnel["join_url"] == f"http://192.0.2.2:8731/#code={CODE}"
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
