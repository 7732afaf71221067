"""
Finger, step 7: answers from a local command.

getUser runs a program with the user name as its last argument and answers
with what it prints, through protocols.process.getProcessOutput: the
Deferred fires when the program exits, and the server serves others
meanwhile.  Names that could pass for options are never handed over.

    PYTHONPATH=. python doc/examples/finger/finger07.py [PORT [PROGRAM [ARGS...]]]

PORT defaults to 1079 and PROGRAM to /usr/bin/finger.
"""

import sys

from protocols.finger import CommandUserSource, FingerFactory
from reactor import reactor

command = sys.argv[2:] or ["/usr/bin/finger"]
source = CommandUserSource(command[0], command[1:], env={"PATH": "/usr/bin:/bin"})
port = reactor.listenTCP(
    int(sys.argv[1]) if len(sys.argv) > 1 else 1079, FingerFactory(source), interface="127.0.0.1"
)
print("listening on 127.0.0.1:%d" % (port.getHost().port,), flush=True)
reactor.run()
