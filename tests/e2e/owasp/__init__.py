"""The OWASP API Security Top 10 suite (a package, so its conftest keeps its own module name)."""
