"""The MemGPT domain: aggregates, their events, memory rules and the catalogue of presets.

Nothing in this package performs I/O; the application services in `domain.app` are the only
place that touches the event store, through the `eventsourcing` library.
"""
