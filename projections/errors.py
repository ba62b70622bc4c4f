"""Errors raised by `projections`.

    ProjectionError
     └── InvalidDocumentError   a document that does not decode as a resource egd accepts; names the
                                document and the JSON path of the bad field

Problems with a resource's *configuration* (a missing backend, a conflicting listener) are never
exceptions: they become status conditions on the object.
"""

from __future__ import annotations


class ProjectionError(Exception):
    """Base of every error `projections` raises."""


class InvalidDocumentError(ProjectionError, ValueError):
    def __init__(self, document: str, path: str, message: str) -> None:
        self.document = document
        self.path = path
        self.message = message
        super().__init__(f"{document}: {path}: {message}" if path else f"{document}: {message}")
