"""Outbound HTTP to addresses a caller chose (job callbacks), without letting it reach inside.

A callback URL is a request the server makes on a caller's behalf, so it must not become a
way into the server's own network (SSRF). :func:`check_url` refuses a URL with
credentials, a scheme other than http(s), or a host that resolves — every address DNS
gives, in whatever numeric form it was written (``2130706433``, ``0x7f.1``,
``[::ffff:127.0.0.1]``) — to a loopback, private, shared, link-local (the cloud metadata
service at 169.254.169.254), multicast, reserved or unspecified address, or to such an
address wrapped in IPv6 (IPv4-mapped, 6to4, Teredo, NAT64). An allow-list
(``serving.callback_allow_hosts``) names host names or networks that may be reached anyway.

:func:`post_json` checks the URL again when it sends (the name may resolve elsewhere by
then: DNS rebinding) and connects to the address it checked, not to a second lookup of
the name; TLS still verifies the certificate against the host name. Redirects are not
followed: a 3xx answer is a failed delivery.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore

from greenscore.errors import DataError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

BAD_SCHEME = "callback_url must use http or https, not '{scheme}'"
NO_HOST = "callback_url has no host"
HAS_CREDENTIALS = "callback_url must not carry credentials (user:password@)"
# One message for a name that does not resolve and one that resolves inside: telling them
# apart, or echoing the address, would let a caller map the server's internal DNS.
REFUSED_HOST = (
    "callback_url host '{host}' is not a public address ({kind}); callbacks go to public "
    "addresses only unless serving.callback_allow_hosts names the host"
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for a host (numeric forms included)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to for it."""

    url: str
    host: str
    port: int
    address: str


class AllowList:
    """Host names and networks callbacks may reach even though they are not public.

    Parameters
    ----------
    entries : iterable of str
        Host names (matched exactly, case-insensitively) or addresses/networks in CIDR
        form (``127.0.0.1``, ``10.1.0.0/16``, ``::1``).
    """

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self.hosts.add(entry.strip().lower().rstrip("."))

    def names(self, host: str) -> bool:
        """Whether the host name itself is allowed."""
        return host.lower().rstrip(".") in self.hosts

    def covers(self, address: Address) -> bool:
        """Whether an address lies in an allowed network."""
        return any(address in net for net in self.networks if net.version == address.version)


def _embedded(address: Address) -> Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def internal_kind(address: Address) -> str | None:
    """Why an address is not a public unicast one (``loopback``, ``private``, ...), else None."""
    inner = _embedded(address)
    if inner is not None:
        return internal_kind(inner) or ("reserved" if address.is_reserved else None)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def check_url(url: str, *, allow: AllowList, resolver: Resolver = resolve) -> Target:
    """Refuse a URL the server must not call; return it with the address to connect to.

    Raises
    ------
    DataError
        Naming ``callback_url`` and what is wrong: scheme, credentials, a host that does
        not resolve, or one that resolves to a non-public address not on the allow-list.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DataError(BAD_SCHEME.format(scheme=scheme))
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise DataError(HAS_CREDENTIALS)
    host = parts.hostname
    if not host:
        raise DataError(NO_HOST)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise DataError(f"callback_url has an invalid port: {exc}") from exc
    try:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        raise DataError(REFUSED_HOST.format(host=host, kind="unresolvable")) from exc
    if not found:
        raise DataError(REFUSED_HOST.format(host=host, kind="unresolvable"))
    if not allow.names(host):
        for address in found:
            kind = internal_kind(address)
            if kind is not None and not allow.covers(address):
                raise DataError(REFUSED_HOST.format(host=host, kind=kind))
    return Target(url=url, host=host, port=port, address=str(found[0]))


class _PinnedBackend(httpcore.SyncBackend):
    """Connects every request to one checked address, whatever the URL's host resolves to."""

    def __init__(self, address: str) -> None:
        self._address = address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(
            self._address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )


def post_json(
    url: str,
    body: dict[str, Any],
    *,
    allow: AllowList,
    timeout: float,
    resolver: Resolver = resolve,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> int:
    """POST ``body`` as JSON to a URL after checking it again; the answer's status code.

    The connection goes to the address :func:`check_url` just approved; the answer's body
    is not read and redirects are not followed.

    Raises
    ------
    DataError
        If the URL is refused now (see :func:`check_url`).
    httpcore.TimeoutException, httpcore.NetworkError, ...
        On a transport failure.
    """
    target = check_url(url, allow=allow, resolver=resolver)
    content = json.dumps(body, separators=(",", ":"), default=str).encode()
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    with httpcore.ConnectionPool(
        ssl_context=ssl.create_default_context(),
        network_backend=_PinnedBackend(target.address),
        max_connections=1,
    ) as pool:
        with pool.stream(
            "POST",
            target.url,
            headers=[
                (b"content-type", b"application/json"),
                (b"user-agent", b"greenscore-callback"),
                *headers,
            ],
            content=content,
            extensions={"timeout": limits},
        ) as response:
            return int(response.status)
