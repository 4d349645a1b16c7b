"""What serves and runs the agents, between the HTTP edge (`api`) and the views (`projections`).

`bootstrap` composes it: configuration, the database (embedded or the operator's), the log tail,
command execution with read-your-writes waits, the turn runner and its memory functions, the
embedding filler, and the adapters for models, embeddings and documents. Nothing here knows HTTP.
"""
