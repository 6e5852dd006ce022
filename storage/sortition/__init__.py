"""The ``sortition`` storage app: draws, witnesses, frozen pools, seats and self-described features."""
