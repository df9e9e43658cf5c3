"""End-to-end jobs that tie the capabilities together: train, score, demo."""
