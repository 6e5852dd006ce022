"""Draws by lot on Matrix: commands, the draw's life, seats and self-described features."""
