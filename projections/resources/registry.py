"""The kinds egd accepts: API group, versions, names as kubectl spells them, scope, and typed model."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from projections.resources.meta import NameFormat


class KindInfo(msgspec.Struct, frozen=True, kw_only=True):
    group: str  # "" for the core group
    versions: tuple[str, ...]  # accepted `apiVersion` versions, preferred first
    kind: str
    plural: str
    namespaced: bool
    model: type[msgspec.Struct]
    short_names: tuple[str, ...] = ()
    name_format: NameFormat = "dns1123-subdomain"  # the rule `metadata.name` must follow

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.versions[0]}" if self.group else self.versions[0]

    def accepts_api_version(self, api_version: str) -> bool:
        group, _, version = api_version.rpartition("/")
        return group == self.group and version in self.versions


class KindRegistry:
    """Looks kinds up by `kind`, or case-insensitively by kind, plural or short name as kubectl does."""

    def __init__(self, kinds: Iterable[KindInfo]) -> None:
        self._by_kind: dict[str, KindInfo] = {}
        self._by_alias: dict[str, KindInfo] = {}
        for info in kinds:
            if info.kind in self._by_kind:
                raise ValueError(f"kind {info.kind} registered twice")
            self._by_kind[info.kind] = info
            for alias in (info.kind, info.plural, *info.short_names):
                self._by_alias[alias.lower()] = info

    def by_kind(self, kind: str) -> KindInfo | None:
        return self._by_kind.get(kind)

    def resolve(self, name: str) -> KindInfo | None:
        """`httproute`, `HTTPRoutes`, `HTTPRoute`, or a short name such as `svc`."""
        return self._by_alias.get(name.lower())

    @property
    def kinds(self) -> list[KindInfo]:
        return list(self._by_kind.values())
