"""
Finger, step 11: step 7 as services: answers from a local command.

The FingerService's source is now a CommandUserSource: each query runs the
command with the user name as its last argument, and the answer is what it
prints (standard error included).  The child runs through getProcessOutput,
so the server answers others while it runs; names that could pass for
options or carry odd characters are answered "No such user" without running
anything.  The child gets only PATH=/usr/bin:/bin in its environment.

    loomd -n -y doc/examples/finger/finger11.tac
    printf 'root\\r\\n' | nc 127.0.0.1 1079

Environment:
    LOOM_FINGER_PORT     finger port on 127.0.0.1 (default 1079)
    LOOM_FINGER_COMMAND  the command and its first arguments, split like a
                         shell line (default /usr/bin/id; the tutorial's
                         /usr/bin/finger works too where it is installed)
"""

import os
import shlex

from protocols.finger import CommandUserSource, FingerService
from services.internet import TCPServer
from services.service import Application

command = shlex.split(os.environ.get("LOOM_FINGER_COMMAND") or "/usr/bin/id")
port = int(os.environ.get("LOOM_FINGER_PORT", "1079"))

application = Application("finger")
source = CommandUserSource(command[0], command[1:], env={"PATH": "/usr/bin:/bin"})
finger = FingerService(source)
finger.setServiceParent(application)
TCPServer(port, finger.getFingerFactory(), interface="127.0.0.1").setServiceParent(application)
