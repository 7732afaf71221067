# twistd -n -y twisted_echo.tac: the same echo server with Twisted.
import os

from twisted.application import internet, service
from twisted.internet import protocol


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


application = service.Application("echo")
factory = protocol.Factory.forProtocol(Echo)
internet.TCPServer(int(os.environ["BENCH_PORT"]), factory, interface="127.0.0.1").setServiceParent(application)
