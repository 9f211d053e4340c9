"""Which URLs outbound may POST to, so endpoints cannot be used to reach internal services.

Outside DEBUG an endpoint URL is https, names a host, carries no user name or password, and
every address its host resolves to is public (no loopback, private, link-local, shared,
reserved, multicast or unspecified address; an IPv4 address inside IPv6 counts as itself).
The check runs when a URL is saved and again at every send: ``guarded_connection`` connects
only to addresses it has just checked, so a host re-pointed at 127.0.0.1 after it was saved
(DNS rebinding) is refused at send time. While DEBUG is on (development) http and private
addresses are allowed, to try the feature against a local receiver.
"""

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from accounts.errors import ApplicationError

URL_MAX = 2000


class UnsafeAddress(ApplicationError):
    """The URL is not one outbound may send to."""


def private_allowed() -> bool:
    return bool(settings.DEBUG)


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def url_parse(url: str, *, field: str = "url") -> SplitResult:
    """The URL split, when its form is acceptable (scheme, host, no credentials); raises
    ``UnsafeAddress`` naming the problem. Does not resolve the host."""
    url = (url or "").strip()
    if not url:
        raise UnsafeAddress("Enter the endpoint's URL.", field=field)
    if len(url) > URL_MAX:
        raise UnsafeAddress(f"Keep the URL to {URL_MAX:,} characters.", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeAddress("This is not a valid URL.", field=field) from None
    schemes = ("https", "http") if private_allowed() else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeAddress(
            "The URL must start with https://."
            if parts.scheme == "http" or not private_allowed()
            else "The URL must start with https:// or http://.",
            field=field,
        )
    if not parts.hostname:
        raise UnsafeAddress("The URL needs a host name.", field=field)
    if parts.username or parts.password:
        raise UnsafeAddress("Leave the user name and password out of the URL.", field=field)
    if port == 0:
        raise UnsafeAddress("Port 0 is not a port to send to.", field=field)
    return parts


def host_addresses(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` for a TCP connection; raises ``UnsafeAddress`` when the host is not
    found, or when any address is not public (unless DEBUG allows it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeAddress(f"The host {host} could not be found.", field="url") from None
    if not private_allowed():
        for info in infos:
            if not address_is_public(info[4][0]):
                raise UnsafeAddress(
                    f"{host} points to {info[4][0]}, a private, loopback or reserved address: "
                    "endpoints must be reachable on the public internet.",
                    field="url",
                )
    return infos


def url_check(url: str, *, field: str = "url") -> str:
    """The URL, stripped, when outbound may send to it (form and resolved addresses)."""
    parts = url_parse(url, field=field)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        host_addresses(parts.hostname, port)
    except UnsafeAddress as exc:
        raise UnsafeAddress(exc.message, field=field) from None
    return url.strip()


def guarded_connection(address: tuple[str, int], timeout=None, source_address=None):
    """A drop-in for ``socket.create_connection`` that resolves the host, refuses it unless
    every address is allowed, and connects to one of those checked addresses."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in host_addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"could not connect to {host}")
