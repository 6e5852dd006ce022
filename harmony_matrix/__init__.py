"""harmony-matrix: consensus democracy in Matrix.

The modules directly in this package form the pure core (no I/O); ``app``, ``cli``, ``__main__``,
``demo`` and ``local_synapse`` are the composition root.
"""

__version__ = "0.1.0"
