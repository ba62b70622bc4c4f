"""Errors raised by `projections`.

    ProjectionError
     └── InvalidDocumentError   a document that does not decode as a resource egd accepts; names the
          │                     document and the JSON path of the bad field
          └── InvalidDocumentsError  every bad document of one input (`egd apply -f`), so that a user
                                     fixes them all in one pass; `.errors` lists them
     └── RateLimitConfigError   an envoyproxy/ratelimit config that rl would refuse to load; names the config,
                                its domain and the descriptor path (the whole config is rejected)

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


class InvalidDocumentsError(InvalidDocumentError):
    """Several documents of one input are invalid; `errors` holds one InvalidDocumentError each, in input order."""

    def __init__(self, errors: list[InvalidDocumentError]) -> None:
        if not errors:
            raise ValueError("InvalidDocumentsError needs at least one error")
        self.errors = errors
        if len(errors) == 1:
            only = errors[0]
            super().__init__(only.document, only.path, only.message)
        else:
            lines = "\n".join(f"  {error}" for error in errors)
            super().__init__(f"{len(errors)} invalid documents", "", lines)
            self.args = (f"{len(errors)} invalid documents:\n{lines}",)


class RateLimitConfigError(ProjectionError, ValueError):
    def __init__(self, config: str, domain: str, path: str, message: str) -> None:
        self.config = config
        self.domain = domain
        self.path = path
        self.message = message
        where = f"rate limit config {config!r}"
        if domain:
            where += f" (domain {domain!r})"
        super().__init__(f"{where}: {path}: {message}" if path else f"{where}: {message}")
