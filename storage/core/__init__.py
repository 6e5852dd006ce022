"""The ``core`` storage app: what the bot runtime needs (sync token, dedupe, login, audit)."""
