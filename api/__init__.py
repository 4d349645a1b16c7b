"""The HTTP side: the Falcon app, its resources, authentication, and the `memgpt` CLI."""
