"""
Finger, step 9: the step 5/6 server as a service tree run by loomd.

Until now each program called listenTCP and reactor.run itself.  A .tac file
only builds ``application``: here a FingerService answering from a dict and a
TCPServer listening for it.  loomd loads the file, starts the services (the
TCPServer listens then), runs the reactor, and stops them on SIGTERM or
Ctrl-C; logging, daemonizing and privileges become loomd's business.

    loomd -n -y doc/examples/finger/finger09.tac
    printf 'alice\\r\\n' | nc 127.0.0.1 1079

Environment:
    LOOM_FINGER_PORT  finger port on 127.0.0.1 (default 1079)
"""

import os

from protocols.finger import FingerService
from services.internet import TCPServer
from services.service import Application

users = {"alice": "Happy and well", "bob": "Out to lunch"}
port = int(os.environ.get("LOOM_FINGER_PORT", "1079"))

application = Application("finger")
finger = FingerService(users)
finger.setServiceParent(application)
TCPServer(port, finger.getFingerFactory(), interface="127.0.0.1").setServiceParent(application)
