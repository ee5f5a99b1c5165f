"""The benchmark harness of the exerciser: ``python -m bench`` (see ``bench/README.md``).

Not part of the test suite and not part of the ``exerciser`` package: it drives the real
code path from outside and measures it.
"""
