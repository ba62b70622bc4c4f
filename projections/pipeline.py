"""The incremental pipeline: one log record in, the state, the Gateway API translation and the list of
invalid objects updated, with what changed.

    LogRecord ─fold─► ResourceState ─decode─► Translator (per-Gateway IR + status)

Pure and synchronous like every projection; the daemon feeds it records and publishes what changed. While
catching up with a long log the daemon folds state only (`translate=False`) and translates everything once
(`translate_all`) when it has caught up: the cost of a restart then does not grow with translation work per
historical event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from events.keys import ResourceKey
from events.schema import LogRecord
from projections.errors import InvalidDocumentError
from projections.gatewayapi.inputs import Resource, decode_input
from projections.gatewayapi.options import TranslateOptions
from projections.gatewayapi.patches import with_outcomes
from projections.gatewayapi.translator import Changes, Deleted, Translator
from projections.state import ResourceState, StateChange, StoredObject, as_document, fold


class InvalidObject(msgspec.Struct, frozen=True, kw_only=True):
    """An object whose latest document does not decode as its kind: translation keeps its last valid
    version (if any) and this says why the latest one is not used."""

    key: ResourceKey
    revision: int
    error: str


class Step(msgspec.Struct, frozen=True, kw_only=True):
    state: StateChange | None  # None: the record was quarantined
    translation: Changes


NO_CHANGES = Changes()


class Pipeline:
    def __init__(self, state: ResourceState | None = None, options: TranslateOptions | None = None) -> None:
        self.state = state or ResourceState()
        self.options = options or TranslateOptions()
        self.translator = Translator(self.options)
        self.invalid: dict[ResourceKey, InvalidObject] = {}
        self.translated_seq = 0
        """The log sequence the translation reflects: the state's, when it last translated (the state may have
        folded further since)."""

    def fold(self, record: LogRecord, *, translate: bool = True) -> Step:
        change = fold(self.state, record)
        if change is None or not translate:
            return Step(state=change, translation=NO_CHANGES)
        return Step(state=change, translation=self.translate_changes([change]))

    def translate_changes(self, changes: Sequence[StateChange]) -> Changes:
        """Translate state changes already folded, as one batch: the daemon folds whatever NATS has delivered
        and translates it at once, so a burst costs one translation of each affected piece, not one per
        event. Conditions that change are stamped with the time of the batch's last event."""
        self.translated_seq = self.state.last_seq
        batch: list[Resource | Deleted] = []
        for change in changes:
            if change.after is None:
                self.invalid.pop(change.key, None)
                batch.append(Deleted(key=change.key))
            elif (resource := self._decode(change.after)) is not None:
                batch.append(resource)
        if not batch:
            return NO_CHANGES
        return self.translator.apply(batch, at=changes[-1].audit.at)

    def translate_all(self) -> Changes:
        """Translate the whole current state (after catching up, or after loading a snapshot)."""
        self.translator = Translator(self.options)
        self.invalid = {}
        self.translated_seq = self.state.last_seq
        resources = [r for r in map(self._decode, self.state.objects.values()) if r is not None]
        return self.translator.apply(resources)

    def document(self, stored: StoredObject, patch_outcomes: Mapping[str, str | None] | None = None) -> dict[str, Any]:
        """The object as `egd get` shows it: server-side metadata filled in, Gateway API status added (with, for
        an EnvoyPatchPolicy, `Programmed` from the xDS stage's `patch_outcomes`)."""
        document = as_document(stored)
        status = self.translator.status(stored.key)
        if status is not None and patch_outcomes:
            status = with_outcomes({stored.key: status}, patch_outcomes)[stored.key]
        if status is not None:
            document["status"] = msgspec.to_builtins(status)
        return document

    def _decode(self, stored: StoredObject) -> Resource | None:
        try:
            resource = decode_input(
                stored.object,
                f"revision {stored.revision}",
                generation=stored.generation,
                changed_at=stored.last_change.at,
                created_at=stored.created.at,
            )
        except InvalidDocumentError as exc:
            self.invalid[stored.key] = InvalidObject(key=stored.key, revision=stored.revision, error=str(exc))
            return None
        self.invalid.pop(stored.key, None)
        return resource
