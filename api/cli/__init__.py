"""The `memgpt` command: `main` (server, run, and the rest), `chat`, `load`, `setup`, `tls`."""
