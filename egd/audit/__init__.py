"""Audit records kept beside the event log: what each Envoy was sent and whether it accepted it."""
