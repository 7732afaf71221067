"""
reactor._tlsrecords: counting the whole TLS records of a stream chunk by
chunk, on hand-made records (the real ones: test_tls_memory's
test_recordsSplitAnywhere).
"""

from hypothesis import given
from hypothesis import strategies as st

from reactor._tlsrecords import RecordCounter


def _record(kind, size):
    return bytes([kind, 3, 3, size >> 8, size & 0xFF]) + b"r" * size


def test_oneWholeRecord():
    counter = RecordCounter()
    assert counter.count(_record(23, 100), True) == 1
    assert (counter.left, counter.header, counter.renegotiating) == (0, b"", False)


def test_aRecordSplitAcrossChunks():
    counter = RecordCounter()
    stream = _record(23, 1000) + _record(23, 20)
    assert counter.count(stream[:600], True) == 0
    assert counter.left == 405
    assert counter.count(stream[600:1007], True) == 1  # its end, and 2 bytes of a header
    assert counter.header == stream[1005:1007]
    assert counter.count(stream[1007:], True) == 1
    assert (counter.left, counter.header) == (0, b"")


@given(st.lists(st.integers(1, 3000), min_size=1, max_size=8), st.lists(st.integers(1, 20)))
def test_cutAnywhereEveryRecordIsCountedOnce(sizes, cuts):
    stream = b"".join(_record(23, size) for size in sizes)
    counter = RecordCounter()
    counted = 0
    cuts = iter(cuts)
    while stream:
        size = next(cuts, len(stream))
        counted += counter.count(stream[:size], True)
        stream = stream[size:]
    assert counted == len(sizes)


def test_aHandshakeRecordAfterTheHandshakeIsRenegotiation():
    during = RecordCounter()
    assert during.count(_record(22, 50) + _record(20, 1), False) == 2
    assert not during.renegotiating
    after = RecordCounter()
    assert after.count(_record(23, 10) + _record(22, 50), True) == 2
    assert after.renegotiating


def test_aHeaderThatIsNoRecordLosesTheFraming():
    counter = RecordCounter()
    assert counter.count(b"\x80\x2e\x01\x03\x01" + b"x" * 40, False) == -1
    assert counter.count(_record(23, 10), True) == -1  # for good
