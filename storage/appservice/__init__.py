"""The ``appservice`` tortoise app: transactions the homeserver pushed, kept until handled."""
