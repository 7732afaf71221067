"""
Finger, step 1: a reactor that runs with nothing listening.

Connections to the port are refused: there is no server yet, only the loop
that will drive one.  Stop it with Ctrl-C.

    PYTHONPATH=. python doc/examples/finger/finger01.py [PORT]    (default 1079)
"""

import sys

from reactor import reactor

port = int(sys.argv[1]) if len(sys.argv) > 1 else 1079
print("running; nothing listens on 127.0.0.1:%d, so connections are refused" % (port,), flush=True)
reactor.run()
