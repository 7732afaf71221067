"""
The web: an HTTP/1.1 server with Twisted's Request and Resource API.

- ``protocols.web.http``: HTTPChannel, HTTPFactory, Request, Headers, the
  status codes (twisted.web.http and http_headers);
- ``protocols.web.server``: Site, Request, NOT_DONE_YET, Session;
- ``protocols.web.resource``: Resource, NoResource, ErrorPage;
- ``protocols.web.iweb`` and ``protocols.web.error``: the interfaces and
  the exceptions.

doc/web.md is the guide.
"""
