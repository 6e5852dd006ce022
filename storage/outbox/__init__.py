"""The ``outbox`` storage app: what the bot has queued to send and not sent yet."""
