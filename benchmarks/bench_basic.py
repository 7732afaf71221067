#!/usr/bin/env python
"""
Receivers' parsing speed: Loom's protocols.basic against Twisted's
twisted.protocols.basic, in the same process.

Each point parses 10 MB of 40-byte items (38 bytes + CRLF, or a 4-byte
length + 36 bytes) fed in 64 KiB chunks, the receivers' callbacks only
counting.  Both sides get their own project's StringTransport.  The peers
are interleaved within each repeat and the median of the repeats is shown.

The last point feeds 50,000 lines in a single chunk: Twisted's LineReceiver
re-slices its buffer for every line (quadratic), Loom's splits once.

Run: python benchmarks/bench_basic.py [--repeats N] [--megabytes M]
"""

import argparse
import gc
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ITEM = 40
CHUNK = 64 * 1024


def _makeClasses(basic):
    class Lines(basic.LineReceiver):
        count = 0

        def lineReceived(self, line):
            self.count += 1

    class OnlyLines(basic.LineOnlyReceiver):
        count = 0

        def lineReceived(self, line):
            self.count += 1

    class Strings(basic.Int32StringReceiver):
        count = 0

        def stringReceived(self, string):
            self.count += 1

    return {"LineReceiver": Lines, "LineOnlyReceiver": OnlyLines, "Int32": Strings}


def _peers():
    import twisted.internet.testing
    import twisted.protocols.basic

    import protocols.basic
    import reactor.testing

    return {
        "Loom": (_makeClasses(protocols.basic), reactor.testing.StringTransport),
        "Twisted": (
            _makeClasses(twisted.protocols.basic),
            twisted.internet.testing.StringTransport,
        ),
    }


def _chunks(stream, size):
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def _lineStream(count):
    return b"".join(b"%037d.\r\n" % (i,) for i in range(count))


def _int32Stream(count):
    return b"".join(struct.pack("!I", ITEM - 4) + b"%035d." % (i,) for i in range(count))


def _run(receiverClass, transportClass, chunks, expected):
    receiver = receiverClass()
    receiver.makeConnection(transportClass())
    gc.collect()
    gc.disable()  # the same for both peers: keeps collector pauses out of the figures
    try:
        start = time.perf_counter()
        for chunk in chunks:
            receiver.dataReceived(chunk)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    if receiver.count != expected:
        raise AssertionError(
            "%s parsed %d items, expected %d" % (receiverClass, receiver.count, expected)
        )
    return elapsed


def _measure(points, peers, repeats):
    """Return {(point, peer): [items/s per repeat]}, peers interleaved."""
    results = {}
    names = list(peers)
    for repeat in range(repeats):
        # Alternate which peer goes first, so neither always runs warm.
        order = names if repeat % 2 == 0 else names[::-1]
        for point, (kind, chunks, count) in points.items():
            for peer in order:
                classes, transportClass = peers[peer]
                elapsed = _run(classes[kind], transportClass, chunks, count)
                results.setdefault((point, peer), []).append(count / elapsed)
    return results


def main(argv=None):
    """
    Run the benchmark and print a table.

    :param argv: the command-line arguments (a list); sys.argv[1:] if None.
    :return: {(point, peer): median items/s}.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--single-chunk-lines", type=int, default=50000)
    parser.add_argument("--quick", action="store_true", help="tiny run, for smoke tests")
    options = parser.parse_args(argv)
    if options.quick:
        options.repeats, options.megabytes, options.single_chunk_lines = 1, 0.5, 5000

    count = int(options.megabytes * 1_000_000) // ITEM
    lines = _chunks(_lineStream(count), CHUNK)
    strings = _chunks(_int32Stream(count), CHUNK)
    single = options.single_chunk_lines
    points = {
        "LineReceiver, 64 KiB chunks": ("LineReceiver", lines, count),
        "LineOnlyReceiver, 64 KiB chunks": ("LineOnlyReceiver", lines, count),
        "Int32StringReceiver, 64 KiB chunks": ("Int32", strings, count),
        "LineReceiver, %d lines in one chunk" % (single,): (
            "LineReceiver",
            [_lineStream(single)],
            single,
        ),
    }
    peers = _peers()
    results = _measure(points, peers, options.repeats)
    medians = {key: statistics.median(values) for key, values in results.items()}

    print(
        "protocols.basic parsing, %d-byte items, median of %d repeats (items/s)"
        % (ITEM, options.repeats)
    )
    header = "%-40s %14s %14s %8s" % ("point", "Loom", "Twisted", "ratio")
    print(header)
    print("-" * len(header))
    for point in points:
        loom, twisted = medians[(point, "Loom")], medians[(point, "Twisted")]
        print("%-40s %14s %14s %7.2fx" % (point, _fmt(loom), _fmt(twisted), loom / twisted))
    return medians


def _fmt(rate):
    return "{:,.0f}".format(rate)


if __name__ == "__main__":
    main()
