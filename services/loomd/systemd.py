"""
systemd notification (sd_notify), as loomd speaks it: one datagram of
``KEY=VALUE`` lines sent to the AF_UNIX socket named by ``$NOTIFY_SOCKET``
(a path, or ``@name`` for the abstract namespace).  ``READY=1`` ends
start-up for a Type=notify unit, ``STOPPING=1`` and ``RELOADING=1``
announce those phases (a reload ends with ``READY=1`` again), ``WATCHDOG=1``
pings the watchdog.  Everything is a no-op when the variable is unset, so
callers need not ask whether they run under systemd.

Socket activation (sd_listen_fds), the other systemd protocol, belongs to
the application rather than to loomd: reactor._activation (the ``systemd:``
endpoint) and services.activation.
"""

import os
import socket
import time

__all__ = [
    "notify",
    "ready",
    "stopping",
    "reloading",
    "watchdogPing",
    "watchdogInterval",
]


def _address(value):
    # "@name" is the abstract namespace: a leading NUL byte for the kernel.
    if value.startswith("@"):
        return "\0" + value[1:]
    return value


def notify(state, environ=None):
    """
    Send state ("READY=1", or several lines) to $NOTIFY_SOCKET.

    :param environ: the environment to read (default os.environ).
    :return: True if sent, False when NOTIFY_SOCKET is unset or empty.
    :raises OSError: the socket exists but the datagram cannot be sent.
    :raises ValueError: NOTIFY_SOCKET is not an AF_UNIX address.
    """
    environ = os.environ if environ is None else environ
    target = environ.get("NOTIFY_SOCKET")
    if not target:
        return False
    if not target.startswith(("/", "@")):
        raise ValueError("NOTIFY_SOCKET=%r is not a UNIX socket path or @name" % (target,))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendto(state.encode("utf-8"), _address(target))
    return True


def _withStatus(state, status):
    if status is None:
        return state
    return "%s\nSTATUS=%s" % (state, status.replace("\n", " "))


def ready(status=None, environ=None):
    """Send READY=1 (and STATUS=status).  See ``notify``."""
    return notify(_withStatus("READY=1", status), environ)


def stopping(status=None, environ=None):
    """Send STOPPING=1 (and STATUS=status).  See ``notify``."""
    return notify(_withStatus("STOPPING=1", status), environ)


def reloading(status=None, environ=None):
    """
    Send RELOADING=1 with MONOTONIC_USEC (and STATUS=status); send
    ``ready()`` once the reload has finished.  See ``notify``.

    MONOTONIC_USEC is now on CLOCK_MONOTONIC, in microseconds: systemd
    >= 253 requires it with RELOADING=1 for Type=notify-reload units, to
    tell the answer to its own reload signal from an earlier reload.
    """
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(_withStatus("RELOADING=1\nMONOTONIC_USEC=%d" % (now,), status), environ)


def watchdogPing(environ=None):
    """Send WATCHDOG=1.  See ``notify``."""
    return notify("WATCHDOG=1", environ)


def watchdogInterval(environ=None):
    """
    Return how often to send WATCHDOG=1, in seconds (half of WATCHDOG_USEC),
    or None when no watchdog is expected from this process (WATCHDOG_USEC
    unset or invalid, or WATCHDOG_PID set to another pid).
    """
    environ = os.environ if environ is None else environ
    watchdogPid = environ.get("WATCHDOG_PID")
    if watchdogPid and watchdogPid != str(os.getpid()):
        return None
    try:
        microseconds = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if microseconds <= 0:
        return None
    return microseconds / 1e6 / 2
