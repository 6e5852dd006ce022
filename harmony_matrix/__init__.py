"""harmony-matrix: consensus democracy in Matrix.

This package is the pure core: the rules, as functions over values, with no I/O. The Matrix edge is
``handlers``, storage is ``storage`` and the composition root (app, CLI, demo) is ``harmony_app``.
"""

__version__ = "0.1.0"
