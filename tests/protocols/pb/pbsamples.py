"""
The values both sides of the Twisted interoperability tests send and expect
(test_pb_twisted.py in Loom's process, twistedpeer.py in Twisted's): plain
data only, so that either process imports it without the other's framework.
"""

SAMPLES = {
    "int": 42,
    "negative": -7,
    "long": 2**40,
    "huge": -(2**100),
    "float": 2.5,
    "str": "h\xe9llo",
    "bytes": b"\x00\xffbytes",
    "none": None,
    "true": True,
    "false": False,
    "list": [1, "two", [3.0]],
    "tuple": (1, (2, b"3")),
    "dict": {"key": [1], 2: {"nested": None}, (1, 2): "tuple key"},
    "empty": [[], (), {}],
    # Strings longer than a read: Loom's decoder takes them piece by piece.
    "longStrings": [bytes([n]) * (300000 + 4099 * n) for n in range(3)],
}
