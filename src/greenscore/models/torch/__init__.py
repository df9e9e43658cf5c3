"""models/torch."""
