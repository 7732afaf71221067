"""
Trusted proxies: the client's address and scheme as a reverse proxy reports
them, believed only from the proxies a Site lists.

Behind a proxy every request comes from the proxy's address.  The proxy
says who the client was in ``Forwarded`` (RFC 7239: ``for=192.0.2.60;
proto=https``) or ``X-Forwarded-For`` and ``X-Forwarded-Proto``.  Anyone
can send those headers, so they count only when the connection itself
comes from a listed proxy, and then only as far as the chain of listed
proxies goes: the chain is read from the right (the hop nearest to us) and
the first address that is not a listed proxy is the client.  An address
the client wrote further left is never reached (test_spoofedHopIsNotBelieved).

``TrustedProxies(["10.0.0.0/8", "::1", "unix"])`` lists addresses or
networks; ``"unix"`` trusts peers on UNIX sockets (a proxy on the same
host).  ``Forwarded`` wins over the X- headers when both are present.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from reactor.address import IPv4Address, IPv6Address, UNIXAddress

__all__ = ["TrustedProxies"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """
    The proxies whose forwarding headers are believed.

    :param proxies: addresses and networks as str (``"10.1.2.3"``,
        ``"10.0.0.0/8"``, ``"::1"``), and ``"unix"`` for UNIX socket peers.
    :raises ValueError: for an entry that is none of these.
    """

    def __init__(self, proxies: Iterable[str]) -> None:
        self.networks: list[_Network] = []
        self.unix = False
        for proxy in proxies:
            if proxy == "unix":
                self.unix = True
            else:
                self.networks.append(ipaddress.ip_network(proxy, strict=False))

    def __bool__(self) -> bool:
        return bool(self.networks) or self.unix

    def trusts(self, address: Any) -> bool:
        """Return whether address (an IAddress) is one of the proxies."""
        if isinstance(address, UNIXAddress):
            return self.unix
        host = getattr(address, "host", None)
        if not isinstance(host, str):
            return False
        return self._trustsHost(host)

    def _trustsHost(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def client(self, peer: Any, headers: Any) -> tuple[Any, bool | None]:
        """
        Return (the client's address, whether its connection was https, or
        None if no proxy said) for a connection from peer with headers.
        """
        if not self.trusts(peer):
            return peer, None
        forwarded = headers.getRawHeaders(b"Forwarded")
        if forwarded:
            hops = [
                _forwardedElement(element) for value in forwarded for element in value.split(b",")
            ]
        else:
            xff = headers.getRawHeaders(b"X-Forwarded-For") or []
            hops = [(entry.strip(), None) for value in xff for entry in value.split(b",")]
            protos = headers.getRawHeaders(b"X-Forwarded-Proto") or []
            proto = protos[-1].split(b",")[-1].strip().lower() if protos else None
            if not hops:
                return peer, None if proto is None else proto == b"https"
            hops[-1] = (hops[-1][0], proto)
        client, secure = peer, None
        for node, proto in reversed(hops):
            address = _address(node)
            if address is None:
                break
            client = address
            if proto is not None:
                secure = proto == b"https"
            if not self.trusts(address):
                break
        return client, secure


def _forwardedElement(element: bytes) -> tuple[bytes, bytes | None]:
    # (the for= node, the proto= value) of one Forwarded element.
    node, proto = b"", None
    for pair in element.split(b";"):
        name, _, value = pair.strip().partition(b"=")
        value = value.strip().strip(b'"')
        name = name.strip().lower()
        if name == b"for":
            node = value
        elif name == b"proto":
            proto = value.lower()
    return node, proto


def _address(node: bytes) -> Any:
    # An IPv4Address or IPv6Address for a node ("1.2.3.4", "1.2.3.4:80",
    # "[::1]:80", "::1"), or None for anything else ("unknown", "_hidden").
    try:
        text = node.decode("ascii")
    except UnicodeDecodeError:
        return None
    port = 0
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, portText = text.partition(":")
        port = int(portText) if portText.isdigit() else 0
    else:
        host = text
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return IPv6Address("TCP", str(ip), port)
    return IPv4Address("TCP", str(ip), port)
