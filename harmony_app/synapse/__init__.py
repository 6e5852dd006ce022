"""A real Synapse homeserver (the one installed from PyPI) run on loopback, for the integration tests
and the demo. Part of the composition root: it starts processes and writes files. It needs only the
standard library and aiohttp; ``cryptography`` (for the federation certificate) is imported where it
is used; PostgreSQL databases for it are created with ``storage.admin``.

By concern: ``config`` (the layered configuration files), ``certificate`` (the federation TLS
certificate), ``server`` (the process, its health and its users), ``pair`` (two federating servers).
``harmony_app.local_synapse`` is the import the tests and the demo use.
"""
