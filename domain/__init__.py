"""The MemGPT domain: aggregates, their events, memory rules and the catalogue of presets.

Nothing in this package performs I/O. The application service (`domain.app.MemGPT`, built from
`domain.service` and one `domain/app_*` module per concern) is the only place that touches the
event store, through the `eventsourcing` library.
"""
