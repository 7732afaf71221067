"""
The finger plugin: ``loomd finger [--file USERS] [--port tcp:8079]``.

Answers from a ``user:info`` file (re-read every ``--interval`` seconds, so
edits show without a restart); without ``--file`` every user is unknown.

A finger client sends one line at once and reads one answer: the query line
must be complete 10 s after its first byte (``--message-timeout``), a client
that says nothing is dropped after 30 s (``--idle-timeout``), and no
exchange lasts more than a minute (``--lifetime``).
"""

import os

from services.plugins_builtin import listen, portParameter, seconds, timeoutParameters
from services.usage import Options as _BaseOptions
from services.usage import UsageError


class Options(_BaseOptions):
    """Options of the finger plugin."""

    synopsis = "[--file USERS] [--port DESCRIPTION]"
    optParameters = [
        portParameter("tcp:8079"),
        ["file", "f", None, "The user list: one user:information line per user."],
        ["interval", "i", 30.0, "Seconds between re-reads of the user list.", float],
        [
            "message-timeout",
            None,
            10.0,
            "Drop a client whose query line is not complete this long after its first byte.",
            seconds,
        ],
        *timeoutParameters(30.0, 60.0),
    ]

    def postOptions(self):
        """Check that the user list can be read (a typo should not start a server)."""
        path = self["file"]
        if path is not None:
            if not os.access(path, os.R_OK):
                raise UsageError("cannot read the user list %r" % (path,))
            self["file"] = os.path.abspath(path)
        if self["interval"] <= 0:
            raise UsageError("--interval must be positive, not %r" % (self["interval"],))


def makeService(options, reactor=None):
    """Return a MultiService: the FingerService (file reloads) and its port."""
    from protocols.finger import FileUserSource, FingerProtocol, FingerService
    from services.service import MultiService

    if options["file"] is None:
        users = FingerService({})
    else:
        users = FingerService(
            FileUserSource(options["file"], interval=options["interval"], reactor=reactor)
        )
    top = MultiService()
    users.setName("users")
    users.setServiceParent(top)
    factory = users.getFingerFactory()
    # A subclass, the Twisted way to set a receiver's class attributes.
    factory.protocol = type(
        "FingerProtocol",
        (FingerProtocol,),
        {"messageTimeout": options["message_timeout"], "clock": reactor},
    )
    listen(options, factory, reactor).setServiceParent(top)
    return top
