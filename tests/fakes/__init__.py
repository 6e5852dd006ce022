"""In-memory parts for fast tests of the Matrix edge: the core stores (``stores``) and a gateway that
records what the bot sends (``gateway``); ``harness`` wires them into a router the way the
composition root does."""
