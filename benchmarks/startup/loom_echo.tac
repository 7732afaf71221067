# loomd -n -y loom_echo.tac: an echo server on 127.0.0.1:$BENCH_PORT.
import os

from protocols.protocol import Factory, Protocol
from services.internet import TCPServer
from services.service import Application


class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


application = Application("echo")
TCPServer(int(os.environ["BENCH_PORT"]), Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(application)
