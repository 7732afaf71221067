"""
Kept for the path DESIGN.md names: the generated init script and systemd
units live in services.loomd.deploy; this module only re-exports its public
names.
"""

from services.loomd.deploy import (
    initScript,
    runningLoomd,
    systemdQuote,
    systemdSocket,
    systemdSocketUnits,
    systemdUnit,
)

__all__ = [
    "initScript",
    "systemdUnit",
    "systemdSocket",
    "systemdSocketUnits",
    "systemdQuote",
    "runningLoomd",
]
