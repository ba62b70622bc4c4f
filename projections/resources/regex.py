"""Regular expressions as Envoy compiles them: RE2 (google-re2 binds the library Envoy links). Python's `re`
takes what RE2 refuses (lookarounds, backreferences), and Envoy refuses a whole update with one such pattern, or
with one whose RE2 program is bigger than its limit (runtime `re2.max_program_size.error_level`, 100 unless the
bootstrap raises it; egd's does not)."""

from __future__ import annotations

import re2

ENVOY_MAX_PROGRAM_SIZE = 100

_QUIET = re2.Options()
_QUIET.log_errors = False  # RE2 would also print each error to stderr


def re2_problem(pattern: str) -> str | None:
    """Why Envoy would refuse `pattern`, or None when it compiles."""
    try:
        compiled = re2.compile(pattern, _QUIET)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return f"{pattern!r} is not a valid RE2 regular expression: {reason}"
    if compiled.programsize > ENVOY_MAX_PROGRAM_SIZE:
        return (
            f"{pattern!r} is too complex for Envoy: its RE2 program size is {compiled.programsize}, over Envoy's "
            f"limit of {ENVOY_MAX_PROGRAM_SIZE}"
        )
    return None
