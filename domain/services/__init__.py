"""The application services: the only code that touches the event store (through `eventsourcing`).

`app.MemGPT` composes one service per concern (accounts, agents, turns, assistants, sources) on
`base.Service`; each method loads aggregates, runs one command and saves their events.
"""
