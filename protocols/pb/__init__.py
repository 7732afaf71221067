"""
Perspective Broker: Twisted's remote-object protocol, wire-compatible with it.

- protocols.pb.banana: the s-expression encoding on the wire, with limits.
- protocols.pb.jelly: objects to s-expressions and back, with SecurityOptions
  deciding what may be rebuilt from the wire.
- protocols.pb.flavors: what crosses the wire how -- Referenceable (by
  reference), Copyable (by copy), Cacheable (by copy kept up to date),
  Viewable (by reference, seen through the caller's perspective).
- protocols.pb.pb: the Broker protocol, RemoteReference, the factories and
  login through a cred portal.

Most programs import everything from protocols.pb.pb, as Twisted programs do
from twisted.spread.pb.
"""
