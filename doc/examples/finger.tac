"""
The finger server `make run` starts (``loomd -n -y doc/examples/finger.tac``).

Finger on 127.0.0.1:1079 answering from finger-users.txt (next to this
file, re-read every 5 seconds), and the setter on 127.0.0.1:1080.  Try:

    printf 'alice\\r\\n' | nc 127.0.0.1 1079
    printf 'dave\\r\\nJust arrived\\r\\n' | nc -q0 127.0.0.1 1080
    printf 'dave\\r\\n' | nc 127.0.0.1 1079

LOOM_FINGER_PORT and LOOM_FINGER_SETTER_PORT move the ports (tests use them).
The tutorial's steps leading here are in doc/examples/finger/.
"""

import os

from protocols.finger import FileUserSource, FingerService
from reactor import log
from services.internet import TCPServer
from services.service import Application, Service

HOST = "127.0.0.1"
here = os.path.dirname(os.path.abspath(__file__))
fingerPort = int(os.environ.get("LOOM_FINGER_PORT", "1079"))
setterPort = int(os.environ.get("LOOM_FINGER_SETTER_PORT", "1080"))

application = Application("finger")
users = FingerService(FileUserSource(os.path.join(here, "finger-users.txt"), interval=5.0))
users.setName("users")
users.setServiceParent(application)
TCPServer(fingerPort, users.getFingerFactory(), interface=HOST).setServiceParent(application)
TCPServer(setterPort, users.getFingerSetterFactory(), interface=HOST).setServiceParent(application)


class HowToQuery(Service):
    """Log, once the ports are open, how to talk to the server."""

    def startService(self):
        Service.startService(self)
        log.msg(
            "finger on %s:%d, setter on %s:%d; query with: printf 'alice\\r\\n' | nc %s %d"
            % (HOST, fingerPort, HOST, setterPort, HOST, fingerPort)
        )


HowToQuery().setServiceParent(application)
