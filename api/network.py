"""Where viewers on the room's network can reach this machine: its LAN addresses, found without
sending anything, and the viewers' link built from them.

Three sources, all local, in this order:

- the source address of the default route, when there is one (a UDP socket's ``connect`` only
  picks a route; no packet leaves): the address most viewers can reach;
- every IPv4 address of every interface that is up and has its link (``getifaddrs`` through
  ctypes, secondary addresses too): this finds a room network with no gateway at all
  (192.168.1.0/24, offline), which no route probe can. Bridges, containers and VPNs (docker0,
  virbr0, tailscale0, wg0, 100.64.0.0/10, ...) come after real interfaces;
- the addresses this machine's name resolves to (``/etc/hosts`` often maps it to 127.0.1.1 only,
  which is why the name alone is not enough).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import os
import socket
import time
from collections.abc import Callable

# NB: a documentation address nothing answers, reached through the default route; connect() on UDP
# sends nothing.
DEFAULT_ROUTE_PROBE = "192.0.2.254"
NO_NETWORK = "no network address found: viewers on this machine only"
# Bridges, containers and VPNs come after real interfaces: an offline room with no default route would
# otherwise hand viewers a docker0 or tailscale0 address nobody in the room can reach.
VIRTUAL_PREFIXES = ("docker", "br-", "virbr", "veth", "lxcbr", "lxdbr", "cni", "flannel", "podman",
                    "tun", "tap", "wg", "tailscale", "zt", "ppp", "nordlynx", "utun")
SHARED_RANGE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: Tailscale and its kind


def _route_source(target: str) -> str | None:
    """The address this machine would send from to reach ``target``, or None without a route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((target, 9))  # the discard port; nothing is sent
            return str(s.getsockname()[0])
    except OSError:
        return None


class _Sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("port", ctypes.c_uint16), ("addr", ctypes.c_uint8 * 4)]


class _IfAddrs(ctypes.Structure):
    pass


_IfAddrs._fields_ = [  # struct ifaddrs, <ifaddrs.h>
    ("next", ctypes.POINTER(_IfAddrs)), ("name", ctypes.c_char_p), ("flags", ctypes.c_uint),
    ("addr", ctypes.POINTER(_Sockaddr)), ("netmask", ctypes.c_void_p), ("ifu", ctypes.c_void_p),
    ("data", ctypes.c_void_p),
]
IFF_UP, IFF_RUNNING = 0x1, 0x40  # <net/if.h>: configured up; the link is there (a cable, an associated Wi-Fi)


def _interface_addresses() -> list[tuple[str, str]]:
    """(interface name, IPv4 address) of every address of every interface that is up and has its
    link, in the kernel's order (``getifaddrs``: secondary addresses too). Empty where the C library
    has no ``getifaddrs``."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        getifaddrs, freeifaddrs = libc.getifaddrs, libc.freeifaddrs
    except (OSError, AttributeError):
        return []
    head = ctypes.POINTER(_IfAddrs)()
    if getifaddrs(ctypes.byref(head)) != 0:
        return []
    found: list[tuple[str, str]] = []
    try:
        node = head
        while node:
            entry = node.contents
            up = entry.flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING
            if up and entry.addr and entry.addr.contents.family == socket.AF_INET and entry.name:
                name = os.fsdecode(entry.name)
                found.append((name, socket.inet_ntoa(bytes(entry.addr.contents.addr))))
            node = entry.next
    finally:
        freeifaddrs(head)
    return found


NAME_TTL_S = 30.0  # how long the host name's addresses are reused (a lookup may wait on DNS)
_names: tuple[float, list[str]] | None = None  # (monotonic time of the lookup, its addresses)


def _name_addresses() -> list[str]:
    """The addresses this machine's name resolves to, looked up at most every ``NAME_TTL_S``: when
    the name is not in ``/etc/hosts`` the lookup asks DNS, which in an offline room only times out."""
    global _names
    now = time.monotonic()
    if _names is not None and now - _names[0] < NAME_TTL_S:
        return list(_names[1])
    try:
        found = [str(i[4][0]) for i in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        found = []
    _names = (now, found)
    return list(found)


def _virtual(name: str, address: str) -> bool:
    return name.startswith(VIRTUAL_PREFIXES) or ipaddress.ip_address(address) in SHARED_RANGE


def _usable(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def lan_addresses(
    route_source: Callable[[str], str | None] = _route_source,
    name_addresses: Callable[[], list[str]] = _name_addresses,
    interface_addresses: Callable[[], list[tuple[str, str]]] = _interface_addresses,
) -> list[str]:
    """This machine's IPv4 addresses that others on its network can reach, the default route's first.

    Then the interfaces' addresses (real interfaces before virtual bridges such as docker0), then
    the name's. Loopback, link-local and unspecified addresses are left out; an empty list means
    no network. The finders are parameters so tests can fake a machine's network.
    """
    default = route_source(DEFAULT_ROUTE_PROBE)
    interfaces = sorted(interface_addresses(), key=lambda pair: _virtual(*pair))  # stable: the kernel's order otherwise
    found = ([] if default is None else [default]) + [a for _, a in interfaces] + name_addresses()
    return list(dict.fromkeys(a for a in found if _usable(a)))


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a URL's host) names this machine only: localhost, 127.x.x.x or ::1."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def viewers_base_url(base_url: str, served_on: str, addresses: list[str], listen_port: int) -> str:
    """The page's address for viewers: ``base_url`` (as the caller opened it), except that a
    loopback host becomes the first LAN address when the server listens on every interface
    (``served_on`` 0.0.0.0 or ::) and the machine has one. The port then becomes ``listen_port``,
    the one the server listens on: a page opened through an SSH tunnel (localhost:9000 to 8000)
    carries the tunnel's port, which means nothing on the room's network."""
    _, rest = base_url.split("://", 1)
    netloc, _, path = rest.partition("/")
    host, _ = _split_netloc(netloc)
    if not is_loopback_host(host) or served_on not in ("0.0.0.0", "::") or not addresses:
        return base_url
    return f"http://{addresses[0]}:{listen_port}/{path}"  # the server itself speaks plain HTTP (a local TLS proxy does not)


def _split_netloc(netloc: str) -> tuple[str, str]:
    """``host`` and ``:port`` (or "") of a URL's netloc, IPv6 brackets kept."""
    if netloc.startswith("["):
        end = netloc.index("]") + 1
        return netloc[:end], netloc[end:]
    host, colon, port = netloc.partition(":")
    return host, colon + port
