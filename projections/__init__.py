"""Read models built from the event log, each by the library's ProjectionRunner.

Every view module declares a `View` and the SQL statements each event becomes; `base` turns that
into the library's projection and tracking recorder (the statements committed in one transaction
with the tracking row, so each event is applied exactly once). `views` holds the plain SQL reads
the API serves from.
"""
