"""The Matrix edge: gateway, dispatcher, and thin handlers that translate events into core calls."""
