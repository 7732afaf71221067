"""
Finger, step 10: step 8 as services: a user file re-read, and the setter.

The dict of step 9 becomes a FileUserSource (lines "user:info", re-read
every few seconds), and a second TCPServer serves the setter: connect, send
a user line then status lines, and close; that status is answered before
the file's.  The reloads start and stop with the FingerService, so loomd
starting and stopping the application is all it takes.  Both ports listen
on 127.0.0.1 only: anyone who can reach the setter can change the answers.

    loomd -n -y doc/examples/finger/finger10.tac
    printf 'alice\\r\\nOn holiday\\r\\n' | nc -q0 127.0.0.1 1080

Environment:
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
fingerPort = int(environ.get("LOOM_FINGER_PORT", "1079"))
setterPort = int(environ.get("LOOM_FINGER_SETTER_PORT", "1080"))

application = Application("finger")
finger = FingerService(FileUserSource(usersPath, interval))
finger.setServiceParent(application)
fingerServer = TCPServer(fingerPort, finger.getFingerFactory(), interface="127.0.0.1")
fingerServer.setServiceParent(application)
setterServer = TCPServer(setterPort, finger.getFingerSetterFactory(), interface="127.0.0.1")
setterServer.setServiceParent(application)
