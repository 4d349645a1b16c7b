"""The MemGPT domain: aggregates, their events, memory rules and the catalogue of presets.

Nothing in this package performs I/O. The application services (`domain.services`: the event
store `MemGPT` and the command groups built on it) are the only place that touches the event
store, through the `eventsourcing` library.
"""
