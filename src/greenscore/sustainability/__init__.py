"""sustainability."""
