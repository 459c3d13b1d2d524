"""Local tooling: the embedded AWS endpoint, the local API server and the queue worker (not deployed)."""
