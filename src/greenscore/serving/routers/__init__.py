"""One router per resource of the scoring API."""
