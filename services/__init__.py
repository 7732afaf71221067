"""
Loom's services: the service tree, network services, plugins, and loomd.

Importing the package registers the ``systemd:`` endpoint (socket
activation) with reactor.endpoints.
"""

from services import activation  # noqa: F401 - registers the systemd: parser
