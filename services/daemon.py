"""
Kept for the path DESIGN.md names: the double fork and the status pipe live
in services.loomd.daemon; this module only re-exports its public names.
"""

from services.loomd.daemon import (
    DaemonError,
    StartupFailed,
    StatusPipe,
    daemonize,
    describeExit,
    describeStartupError,
    redirectStandardStreams,
)

__all__ = [
    "StatusPipe",
    "StartupFailed",
    "DaemonError",
    "daemonize",
    "redirectStandardStreams",
    "describeExit",
    "describeStartupError",
]
