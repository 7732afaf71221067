"""
loomd's own machinery: the daemonizer behind the ``loomd`` command.

Nothing outside this package imports it (tests/test_layering.py checks);
``.tac`` files and applications use the rest of ``services``.  The entry
point is services.runner (a thin re-export of services.loomd.runner).
"""
