"""
Authentication: who may log in, and what they get when they do (Twisted's
twisted.cred).

- ``protocols.cred.portal``: Portal, IRealm: credentials in, an avatar out;
- ``protocols.cred.credentials``: UsernamePassword, UsernameHashedPassword,
  Anonymous and their interfaces;
- ``protocols.cred.checkers``: ICredentialsChecker, FilePasswordDB (salted
  scrypt hashes), InMemoryUsernamePasswordDatabaseDontUse,
  AllowAnonymousAccess;
- ``protocols.cred.passwordfile``: FilePasswordDB's file format, and the
  command that adds, changes and removes its users
  (``python -m protocols.cred.passwordfile``);
- ``protocols.cred.error``: UnauthorizedLogin, UnhandledCredentials,
  LoginFailed, LoginDenied.

doc/remote.md is the guide.
"""
