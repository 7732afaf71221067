"""
The exceptions of a login (Twisted's twisted.cred.error).

UnauthorizedLogin is what every wrong password, unknown user or refused
credential becomes: one answer for all of them, so that a client learns
nothing about which it was.
"""

__all__ = [
    "Unauthorized",
    "LoginFailed",
    "UnauthorizedLogin",
    "UnhandledCredentials",
    "LoginDenied",
]


class Unauthorized(Exception):
    """Standard unauthorized error."""


class LoginFailed(Exception):
    """The request to log in failed, for some reason."""


class UnauthorizedLogin(LoginFailed, Unauthorized):
    """The credentials did not prove who the user is (wrong password, unknown user...)."""


class UnhandledCredentials(LoginFailed):
    """
    No checker of the portal takes this kind of credentials: a server
    configuration error, not the user's.
    """


class LoginDenied(LoginFailed):
    """The realm refused a user whose credentials were good (quota, load, too many logins)."""
