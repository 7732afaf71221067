"""
Finger as a service tree: the tutorial's summary.

    loomd -n -y doc/examples/finger/finger.tac

finger09.tac to finger11.tac build service trees like this one a step at a
time; this is finger10.tac's tree, with the finger service named "users".

The application holds a FingerService whose users come from a file re-read
every few seconds, and two TCPServers: finger (answers queries) and the
setter (connect, send a user line then status lines, close).  Both listen on
127.0.0.1 only: anyone who can reach the setter can change the answers.

Environment, so tests (and you) can move it:
    LOOM_FINGER_PORT         finger port (default 1079)
    LOOM_FINGER_SETTER_PORT  setter port (default 1080)
    LOOM_FINGER_USERS        the user file (default ../finger-users.txt)
    LOOM_FINGER_INTERVAL     seconds between re-reads of the file (default 5)
"""

import os

from protocols.finger import FileUserSource, FingerService
from services.internet import TCPServer
from services.service import Application

here = os.path.dirname(os.path.abspath(__file__))
environ = os.environ
usersPath = environ.get("LOOM_FINGER_USERS") or os.path.join(here, "..", "finger-users.txt")
interval = float(environ.get("LOOM_FINGER_INTERVAL", "5"))

application = Application("finger")
finger = FingerService(FileUserSource(usersPath, interval))
finger.setName("users")
finger.setServiceParent(application)
fingerPort = int(environ.get("LOOM_FINGER_PORT", "1079"))
setterPort = int(environ.get("LOOM_FINGER_SETTER_PORT", "1080"))
TCPServer(fingerPort, finger.getFingerFactory(), interface="127.0.0.1").setServiceParent(application)
TCPServer(setterPort, finger.getFingerSetterFactory(), interface="127.0.0.1").setServiceParent(
    application
)
