"""Turns: the runner that answers queued messages, the functions that reach memory beyond the
agent, the leases that give each agent one runner, and following a turn on the log."""
