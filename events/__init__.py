"""Events: the schema of resource changes, their codec, subjects, and the event store.

Nothing here knows about Gateway API semantics; `projections` folds these events and `egd` moves them.
"""
