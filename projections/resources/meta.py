"""ObjectMeta and the Kubernetes naming rules."""

from __future__ import annotations

import re

import msgspec

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_SUBDOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63


class K8sModel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    """Base of every resource model: immutable, fields in snake_case here and camelCase on the wire."""


class ObjectMeta(K8sModel, frozen=True, kw_only=True):
    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


def name_problem(name: str, *, label: bool = False) -> str | None:
    """Why `name` is not a valid DNS-1123 subdomain (or label), or None when it is."""
    pattern, limit, what = (
        (DNS1123_LABEL, MAX_LABEL_LENGTH, "DNS-1123 label")
        if label
        else (DNS1123_SUBDOMAIN, MAX_SUBDOMAIN_LENGTH, "DNS-1123 subdomain")
    )
    if not name:
        return "is required"
    if len(name) > limit:
        return f"must be no more than {limit} characters (got {len(name)})"
    if not pattern.fullmatch(name):
        return (
            f"{name!r} is not a valid {what}: lower-case letters, digits and '-'"
            + ("" if label else " or '.'")
            + ", starting and ending with a letter or digit"
        )
    return None
