"""The parts every Kubernetes object shares (ObjectMeta, label selectors) and the Kubernetes naming rules."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
MAX_SUBDOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63


class K8sModel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="camel"):
    """Base of every resource model: immutable, fields in snake_case here and camelCase on the wire."""


class ObjectMeta(K8sModel, frozen=True, kw_only=True):
    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class K8sObject(K8sModel, frozen=True, kw_only=True):
    """Base of every kind's model: the fields all objects have; each kind adds its own (`spec`, `data`...)."""

    api_version: str
    kind: str
    metadata: ObjectMeta


class LabelSelectorRequirement(K8sModel, frozen=True, kw_only=True):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


class LabelSelector(K8sModel, frozen=True, kw_only=True):
    """A Kubernetes label selector (meta/v1); the requirements of both fields are ANDed."""

    match_labels: dict[str, str] = {}
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether an object with `labels` is selected (an empty selector selects everything)."""
        return all(labels.get(key) == value for key, value in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )


NameFormat = Literal["dns1123-subdomain", "dns1123-label", "dns1035-label"]
"""The rule an object's name must follow: most kinds take a subdomain; namespaces a DNS-1123 label; Services a
DNS-1035 label (it becomes a DNS name, so it starts with a letter)."""

_NAME_RULES: dict[str, tuple[re.Pattern[str], int, str, str]] = {
    "dns1123-subdomain": (
        DNS1123_SUBDOMAIN,
        MAX_SUBDOMAIN_LENGTH,
        "DNS-1123 subdomain",
        "lower-case letters, digits, '-' or '.', starting and ending with a letter or digit",
    ),
    "dns1123-label": (
        DNS1123_LABEL,
        MAX_LABEL_LENGTH,
        "DNS-1123 label",
        "lower-case letters, digits or '-', starting and ending with a letter or digit",
    ),
    "dns1035-label": (
        DNS1035_LABEL,
        MAX_LABEL_LENGTH,
        "DNS-1035 label",
        "lower-case letters, digits or '-', starting with a letter and ending with a letter or digit",
    ),
}


def name_problem(name: str, *, label: bool = False, name_format: NameFormat | None = None) -> str | None:
    """Why `name` is not valid under `name_format` (default: a DNS-1123 subdomain, or label when `label`), or
    None when it is."""
    pattern, limit, what, rule = _NAME_RULES[name_format or ("dns1123-label" if label else "dns1123-subdomain")]
    if not name:
        return "is required"
    if len(name) > limit:
        return f"must be no more than {limit} characters (got {len(name)})"
    if not pattern.fullmatch(name):
        return f"{name!r} is not a valid {what}: {rule}"
    return None
