"""The release of GreenScore (one place; the bottom layer: it imports nothing)."""

__version__ = "0.1.0"
