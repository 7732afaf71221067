"""
Shedding root: resolving -u/-g, chroot, and switching user and groups for good.

The order is the one that works: supplementary groups first (setgroups
needs root), then the group id (setgid needs root), then the user id, which
gives root up.  With ``euid=True`` (``--euid``) only the effective ids
change, so the process can take root back later; without it, shedding is
verified by trying to regain user and group root and expecting the kernel to refuse.
"""

import errno
import grp
import os
import pwd

__all__ = [
    "PrivilegeError",
    "resolveUser",
    "resolveGroup",
    "primaryGroup",
    "shedPrivileges",
    "describeCredentials",
    "chroot",
]


class PrivilegeError(Exception):
    """A user, group or chroot problem; str(error) is the message for the user."""


def _number(text):
    # "65534" -> 65534; names and negative numbers -> None.
    if isinstance(text, int):
        return text if text >= 0 else None
    return int(text) if text.isdigit() else None


def resolveUser(nameOrId):
    """
    Return the uid for a user name or number ("nobody", "65534", 65534).

    A number need not exist in the user database.

    :raises PrivilegeError: "unknown user 'x'".
    """
    number = _number(nameOrId)
    if number is not None:
        return number
    try:
        return pwd.getpwnam(nameOrId).pw_uid
    except KeyError:
        raise PrivilegeError("unknown user %r" % (nameOrId,)) from None


def resolveGroup(nameOrId):
    """
    Return the gid for a group name or number ("nogroup", "65534", 65534).

    :raises PrivilegeError: "unknown group 'x'".
    """
    number = _number(nameOrId)
    if number is not None:
        return number
    try:
        return grp.getgrnam(nameOrId).gr_gid
    except KeyError:
        raise PrivilegeError("unknown group %r" % (nameOrId,)) from None


def primaryGroup(uid):
    """Return uid's primary gid from the user database, or None if uid has no entry."""
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return None


def _userName(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _groupName(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def shedPrivileges(uid: int | None = None, gid: int | None = None, euid: bool = False) -> str:
    """
    Switch to uid and gid for good (or only the effective ids with euid).

    - uid given: supplementary groups become the user's (initgroups); gid
      defaults to the user's primary group.
    - only gid given: supplementary groups are cleared.
    - neither: nothing changes.

    :return: a description of the final credentials for the log, e.g.
        "running as uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)".
    :raises PrivilegeError: a switch was refused, or root could be regained.
    """
    if uid is None and gid is None:
        return describeCredentials()
    if gid is None and uid is not None:  # uid is set: both None returned above
        gid = primaryGroup(uid)
        if gid is None:
            raise PrivilegeError("user %d has no entry to take a group from; give -g too" % uid)
    _attempt("set the supplementary groups", _setGroups, uid, gid)
    if euid:
        _attempt("switch the effective group to %s" % _label(gid, _groupName), os.setegid, gid)
        if uid is not None:
            _attempt("switch the effective user to %s" % _label(uid, _userName), os.seteuid, uid)
        return describeCredentials()
    _attempt("switch to group %s" % _label(gid, _groupName), os.setgid, gid)
    if uid is not None:
        _attempt("switch to user %s" % _label(uid, _userName), os.setuid, uid)
        if uid != 0:
            _verifyRootIsGone(gid)
    return describeCredentials()


def _setGroups(uid, gid):
    if uid is None:
        os.setgroups([])
        return
    name = _userName(uid)
    if name is None:
        os.setgroups([gid])  # a bare number: no group membership to look up
    else:
        os.initgroups(name, gid)


def _attempt(what, function, *args):
    try:
        function(*args)
    except OSError as error:
        raise PrivilegeError("cannot %s: %s" % (what, error.strerror)) from None


def _verifyRootIsGone(gid):
    """
    Try to take back user root, then group root (unless group 0 was the
    target: setting the group one has is always allowed); each must fail.
    """
    attempts = [("root", os.setuid), ("root", os.seteuid)]
    if gid != 0:
        attempts += [("group root", os.setgid), ("group root", os.setegid)]
    for what, regain in attempts:
        try:
            regain(0)
        except PermissionError:
            continue
        raise PrivilegeError("privileges were not shed: %s could be regained" % (what,))


def _label(number, lookup):
    name = lookup(number)
    return "%d(%s)" % (number, name) if name else str(number)


def describeCredentials():
    """
    Describe this process's credentials the way id(1) does, for the log:
    "running as uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)",
    with euid= and egid= added where they differ from the real ids.
    """
    ruid, euid, _ = os.getresuid()
    rgid, egid, _ = os.getresgid()
    parts = ["uid=" + _label(ruid, _userName), "gid=" + _label(rgid, _groupName)]
    if euid != ruid:
        parts.append("euid=" + _label(euid, _userName))
    if egid != rgid:
        parts.append("egid=" + _label(egid, _groupName))
    groups = ",".join(_label(group, _groupName) for group in os.getgroups())
    parts.append("groups=" + groups)
    return "running as " + " ".join(parts)


def chroot(path: str) -> None:
    """
    Change the root directory to path, and the working directory to the new /.

    Open everything needed from outside the jail first (the pidfile, log
    files, the syslog socket, /dev/null if not in the jail).

    :raises PrivilegeError: with the reason ("No such file or directory",
        "Not a directory", "Operation not permitted (chroot needs root or CAP_SYS_CHROOT)").
    """
    try:
        os.chroot(path)
    except OSError as error:
        reason = error.strerror or str(error)
        if error.errno == errno.EPERM:
            reason += " (chroot needs root or CAP_SYS_CHROOT)"
        raise PrivilegeError("cannot chroot to %s: %s" % (path, reason)) from None
    os.chdir("/")
