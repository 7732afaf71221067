"""
Kept for the path DESIGN.md names: this module only re-exports.

sd_notify (READY=1, STOPPING=1, the watchdog), which loomd speaks, lives in
services.loomd.systemd; the passed descriptors of socket activation
(sd_listen_fds), which belong to the application's ``systemd:`` endpoints,
live in reactor._activation.
"""

from reactor._activation import LISTEN_FDS_START, ListenFd, listenFds
from services.loomd.systemd import (
    notify,
    ready,
    reloading,
    stopping,
    watchdogInterval,
    watchdogPing,
)

__all__ = [
    "notify",
    "ready",
    "stopping",
    "reloading",
    "watchdogPing",
    "watchdogInterval",
    "listenFds",
    "ListenFd",
    "LISTEN_FDS_START",
]
