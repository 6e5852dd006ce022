"""The read side of the public web view (no tables of its own): see ``queries.py``."""
