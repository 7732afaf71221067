"""
``loomd``'s entry point: the console script (setup.cfg), bin/loomd and
``python -m services.runner`` all start here.

The options and the choice of mode live in services.loomd.runner, with the
rest of loomd's machinery; this module only re-exports its public names.
It stays the entry point because that is what DESIGN.md documents and what
is already in the field: the generated init scripts and systemd units that
fall back to ``python -m services.runner``, and every installed ``loomd``
console script, which names ``services.runner:main``.
"""

from services.loomd.runner import DEFAULT_PIDFILE, LoomdOptions, main, run

__all__ = ["LoomdOptions", "main", "run", "DEFAULT_PIDFILE"]

if __name__ == "__main__":
    main()
