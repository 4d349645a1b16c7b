"""The application services: the only code that touches the event store (through `eventsourcing`).

`base.MemGPT` is the one `eventsourcing` Application (the store); `app.CommandGroups.on(store)`
builds one command group per concern on it (accounts, agents, turns, assistants, sources). Each
method loads aggregates, runs one command and saves their events.
"""
