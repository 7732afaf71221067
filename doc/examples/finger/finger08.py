"""
Finger, step 8: users from a file, re-read every few seconds, and a setter.

FingerService holds a FileUserSource (lines "user:info", re-read every
INTERVAL seconds) and the statuses set through the setter port: connect,
send a user line then status lines, and close.  The setter listens on the
next port up (on a free port when PORT is 0).

    PYTHONPATH=. python doc/examples/finger/finger08.py [PORT [USERFILE [INTERVAL]]]

PORT defaults to 1079, USERFILE to doc/examples/finger-users.txt, INTERVAL to 5.
"""

import os
import sys

from protocols.finger import FileUserSource, FingerService
from reactor import reactor

here = os.path.dirname(os.path.abspath(__file__))
fingerPort = int(sys.argv[1]) if len(sys.argv) > 1 else 1079
path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "finger-users.txt")
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0

service = FingerService(FileUserSource(path, interval))
finger = reactor.listenTCP(fingerPort, service.getFingerFactory(), interface="127.0.0.1")
setter = reactor.listenTCP(
    fingerPort and fingerPort + 1, service.getFingerSetterFactory(), interface="127.0.0.1"
)
service.startService()
reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
print(
    "listening on 127.0.0.1:%d (setter on 127.0.0.1:%d)"
    % (finger.getHost().port, setter.getHost().port),
    flush=True,
)
reactor.run()
