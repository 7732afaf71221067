"""
The founding paper's deployment, a reverse proxy in one .tac file, with only
the imports changed (twisted.web -> protocols.web, twisted.application ->
services) and ``preserveHost`` added:

    loomd -n -y doc/examples/web/proxy.tac
    curl http://127.0.0.1:8080/

Every request is forwarded to the backend, LOOM_PROXY_HOST:LOOM_PROXY_PORT
(www.yahoo.com:80, the paper's, by default; the tests point it at a Loom
backend), with its path appended to '/'.  ``preserveHost=True`` sends the
client's Host header to the backend unchanged (Apache's ProxyPreserveHost),
which the virtual hosts of a backend serving several names need; the
backend also learns the client's address from X-Forwarded-For.  The proxy
listens on LOOM_WEB_PORT (8080) of LOOM_WEB_INTERFACE (127.0.0.1; empty
for every interface, as the paper's did).
"""

import os

from protocols.web import proxy, server
from services import internet, service

host = os.environ.get("LOOM_PROXY_HOST", "www.yahoo.com")
backendPort = int(os.environ.get("LOOM_PROXY_PORT", "80"))
port = int(os.environ.get("LOOM_WEB_PORT", "8080"))
interface = os.environ.get("LOOM_WEB_INTERFACE", "127.0.0.1")

application = service.Application("web-proxy")
site = server.Site(proxy.ReverseProxyResource(host, backendPort, "/", preserveHost=True))
internet.TCPServer(port, site, interface=interface).setServiceParent(application)
