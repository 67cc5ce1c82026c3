"""Security tests (issue 11): each reproduces an attack on loopback against a real node."""
