"""Read models built from the event log, each by the library's ProjectionRunner.

Every view module holds a `Projection` (which events change which rows) and a tracking recorder
(the SQL that changes them, committed in one transaction with the tracking row, so each event is
applied exactly once). `views` holds the plain SQL reads the API serves from.
"""
