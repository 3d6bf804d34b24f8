"""Where Batchwatch may send requests on behalf of its users (server-side request forgery).

A member who can save a webhook channel chooses a URL that Batchwatch's own workers POST to. Left
alone, that reaches what only the server can: the cloud metadata service (169.254.169.254), an
admin port on 127.0.0.1, a database on the private network. So outgoing requests to private
(RFC 1918, fc00::/7), loopback, link-local (169.254.0.0/16, fe80::/10), unspecified, multicast
and reserved addresses are refused unless the operator allows them in
``BATCHWATCH_OUTBOUND_ALLOW`` (comma-separated CIDRs or host names; ``.example.com`` allows
the subdomains too). Outside production, loopback is allowed: development and the test suite
run their receivers on 127.0.0.1.

The same holds for the integrations the operator configures (Grafana for dashboards, Flink
REST APIs polled for runs): they go through ``request`` below, so a host that is private
(``http://grafana:3000`` on a compose network) must be listed in ``BATCHWATCH_OUTBOUND_ALLOW``
in production like any other.

The check runs twice: when a channel is saved (``check_url``: early, with a sentence the admin
can act on) and when the connection is made, after DNS resolution, to the very address that
was checked (``GuardedHTTPConnection``): a name that resolved to a public address at save time
and to 127.0.0.1 at delivery time (DNS rebinding) is refused then.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.request
from functools import lru_cache
from typing import Any

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class OutboundRefused(Exception):
    """A destination Batchwatch will not connect to; ``message`` is a sentence for people.

    Deliberately not an ``OSError``: urllib3 would wrap it as a connection error and the outbox
    would retry it, while retrying cannot help."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@lru_cache(maxsize=8)
def _parse_allow(entries: tuple[str, ...], production: bool) -> tuple[tuple, tuple]:
    networks: list[IPNetwork] = [] if production else list(_LOOPBACK)
    names: list[str] = []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.append(entry.rstrip("."))
    return tuple(networks), tuple(names)


def _allowed() -> tuple[tuple, tuple]:
    return _parse_allow(
        tuple(getattr(settings, "BATCHWATCH_OUTBOUND_ALLOW", ())),
        bool(getattr(settings, "PRODUCTION", False)),
    )


def _name_allowed(host: str) -> bool:
    host = host.lower().rstrip(".")
    for name in _allowed()[1]:
        if host == name.lstrip(".") or (name.startswith(".") and host.endswith(name)):
            return True
    return False


def _kind(address: IPAddress) -> str | None:
    """What kind of forbidden address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def refusal(address: str, *, host: str | None = None) -> str | None:
    """The sentence refusing a connection to ``address`` (reached through ``host``), or None."""
    if host and _name_allowed(host):
        return None
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0
    kind = _kind(ip)
    if kind is None or any(ip in network for network in _allowed()[0]):
        return None
    through = f"{host} resolves to {ip}, which is" if host and host != str(ip) else f"{ip} is"
    return (
        f"{through} {kind}; Batchwatch does not send requests there unless the operator"
        " allows it in BATCHWATCH_OUTBOUND_ALLOW"
    )


def _host_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host``, every one of them allowed; raises ``OutboundRefused``.

    All must pass, not just one: a name answering a public and a private address would
    otherwise choose where the connection goes."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])  # (an int only for AF_INET6 without IPv6 support)
        problem = refusal(address, host=host)
        if problem:
            raise OutboundRefused(problem)
        if address not in addresses:
            addresses.append(address)
    return addresses


def check_url(url: str, *, resolve_names: bool = True) -> None:
    """Raise ``OutboundRefused`` (a sentence) when ``url`` points somewhere forbidden.

    A host name that does not resolve now passes: it may resolve later, and the connection
    is checked again then."""
    try:
        parsed = urllib3.util.parse_url(url)
    except urllib3.exceptions.LocationParseError as exc:
        raise OutboundRefused(f"{url} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise OutboundRefused(f"{url} is not an http(s) URL with a host")
    ip = _host_ip(parsed.host)
    if ip is not None:
        problem = refusal(str(ip), host=parsed.host)
        if problem:
            raise OutboundRefused(problem)
        return
    if not resolve_names:
        return
    try:
        resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
    except (OSError, UnicodeError):
        return


class GuardedHTTPConnection(HTTPConnection):
    """Resolves, checks every address, then connects to a checked address itself, so what
    was checked is what is reached (no second lookup for DNS rebinding to answer). TLS
    still uses the original host name for SNI and certificate checks (``self.host``)."""

    def _new_conn(self) -> socket.socket:
        try:
            addresses = resolve(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        last_error: OSError | None = None
        for address in addresses:
            try:
                return urllib3_connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(
            self, f"Failed to establish a new connection: {last_error or 'no address'}"
        )


class GuardedHTTPSConnection(GuardedHTTPConnection, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


def guard(pool_manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """Make ``pool_manager`` check every connection it opens (not for a proxy manager: its
    connections go to the operator's proxy, and the target is checked by ``check_url``)."""
    pool_manager.pool_classes_by_scheme = {
        "http": GuardedHTTPConnectionPool,
        "https": GuardedHTTPSConnectionPool,
    }
    return pool_manager


_pools: dict[str, urllib3.PoolManager] = {}
_pools_lock = threading.Lock()


def pool_for(url: str) -> urllib3.PoolManager:
    """The shared pool for requests to ``url``: one per process and per proxy, thread-safe.
    Proxies come from the environment as for urllib (``HTTPS_PROXY``, ``NO_PROXY``...);
    direct connections are guarded (checked after DNS resolution), and through a proxy
    ``request`` checks the target before sending. No automatic retries or redirects: callers
    retry as suits them, and a redirect would be a destination nobody checked."""
    proxy = urllib.request.getproxies().get(url.split(":", 1)[0].lower())
    if proxy and urllib.request.proxy_bypass(urllib3.util.parse_url(url).host or ""):
        proxy = None
    key = proxy or ""
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            options: dict[str, Any] = {
                "num_pools": 20,
                "retries": False,
                "headers": {"User-Agent": "Batchwatch"},
            }
            pool = (
                urllib3.ProxyManager(proxy, **options)
                if proxy
                else guard(urllib3.PoolManager(**options))
            )
            _pools[key] = pool
        return pool


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float,
) -> urllib3.BaseHTTPResponse:
    """One request to ``url`` through the checks above; the answer whatever its status.

    Raises ``OutboundRefused`` (a sentence) for a forbidden destination, before anything is
    sent, and ``urllib3.exceptions.HTTPError`` when the destination cannot be reached."""
    pool = pool_for(url)
    if isinstance(pool, urllib3.ProxyManager):
        check_url(url)
    return pool.request(
        method, url, body=body, headers=headers, timeout=timeout, redirect=False, retries=False
    )
