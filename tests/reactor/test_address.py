"""Tests for reactor.address: immutable, comparable address values."""

import os
import pickle

import pytest
from zope.interface.verify import verifyObject

from reactor.address import HostnameAddress, IPv4Address, IPv6Address, UNIXAddress
from reactor.interfaces import IAddress


def test_ipv4AddressComparesByFields():
    assert IPv4Address("TCP", "127.0.0.1", 80) == IPv4Address("TCP", "127.0.0.1", 80)
    assert IPv4Address("TCP", "127.0.0.1", 80) != IPv4Address("UDP", "127.0.0.1", 80)
    assert IPv4Address("TCP", "127.0.0.1", 80) != IPv4Address("TCP", "127.0.0.1", 81)
    assert len({IPv4Address("TCP", "1.2.3.4", 5), IPv4Address("TCP", "1.2.3.4", 5)}) == 1


def test_addressesOfDifferentKindsDiffer():
    assert IPv4Address("TCP", "::1", 80) != IPv6Address("TCP", "::1", 80)
    assert IPv4Address("TCP", "a", 1) != ("TCP", "a", 1)


def test_ipv6AddressDefaultsAndRepr():
    address = IPv6Address("UDP", "::1", 53)
    assert (address.flowInfo, address.scopeID) == (0, 0)
    assert repr(address) == ("IPv6Address(type='UDP', host='::1', port=53, flowInfo=0, scopeID=0)")
    assert address == IPv6Address("UDP", "::1", 53, 0, 0)
    assert address != IPv6Address("UDP", "::1", 53, scopeID=2)


def test_unixAddressReprAndEquality():
    assert repr(UNIXAddress(b"/tmp/s")) == "UNIXAddress(name=b'/tmp/s')"
    assert UNIXAddress(None) == UNIXAddress(None)
    assert UNIXAddress("\0abstract") != UNIXAddress("/abstract")


def test_addressesAreImmutable():
    address = IPv4Address("TCP", "127.0.0.1", 80)
    with pytest.raises(AttributeError):
        address.port = 81
    with pytest.raises(AttributeError):
        del address.host
    assert address.port == 80


def test_addressTypeIsChecked():
    with pytest.raises(ValueError, match="'SCTP'"):
        IPv4Address("SCTP", "127.0.0.1", 80)


def test_addressesProvideIAddressAndPickle():
    for address in (
        IPv4Address("TCP", "10.0.0.1", 1),
        IPv6Address("TCP", "::1", 2, 3, 4),
        UNIXAddress(b"/x"),
    ):
        assert verifyObject(IAddress, address)
        assert pickle.loads(pickle.dumps(address)) == address


def test_unixAddressesNamingOneFileAreEqual(tmp_path):
    target = tmp_path / "real.sock"
    target.write_bytes(b"")
    link = tmp_path / "link.sock"
    link.symlink_to(target)
    byTarget, byLink = UNIXAddress(str(target)), UNIXAddress(os.fsencode(link))
    assert byTarget == byLink
    assert hash(byTarget) == hash(byLink)
    assert len({byTarget, byLink}) == 1


def test_unixAddressStrAndBytesSpellingsAreEqual():
    # No file needed: the same path, spelled as str or as bytes.
    assert UNIXAddress("/nonexistent/a.sock") == UNIXAddress(b"/nonexistent/a.sock")
    assert hash(UNIXAddress("/nonexistent/a.sock")) == hash(UNIXAddress(b"/nonexistent/a.sock"))


def test_unixAddressesOfDifferentFilesDiffer(tmp_path):
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "b").write_bytes(b"")
    assert UNIXAddress(str(tmp_path / "a")) != UNIXAddress(str(tmp_path / "b"))
    assert UNIXAddress(str(tmp_path / "missing")) != UNIXAddress(str(tmp_path / "a"))
    assert UNIXAddress("\0abstract") != UNIXAddress("\0other")
    assert UNIXAddress("\0abstract") == UNIXAddress(b"\0abstract")
    assert UNIXAddress(None) != UNIXAddress(str(tmp_path / "a"))


def test_hostnameAddressIsAValue():
    address = HostnameAddress(b"example.org", 443)
    assert verifyObject(IAddress, address)
    assert address == HostnameAddress(b"example.org", 443)
    assert address != HostnameAddress(b"example.org", 80)
    assert repr(address) == "HostnameAddress(hostname=b'example.org', port=443)"
    assert pickle.loads(pickle.dumps(address)) == address
