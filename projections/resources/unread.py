"""The fields of a document that its model does not read.

Models ignore fields they do not name, so that objects from newer API versions still decode (the stored event
keeps the whole document). A field egd does not read is then either a misspelling or a feature egd does not
support: worth a warning to whoever wrote it, never a refusal."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import inspect

_NESTED = (inspect.StructType, inspect.ListType, inspect.VarTupleType)  # what can hold fields of its own
_NOT_CHECKED = frozenset({"metadata", "status"})  # Kubernetes' own metadata, and status egd computes itself


def unread_fields(document: dict[str, Any], model: type[msgspec.Struct]) -> list[str]:
    """The JSON paths (`spec.rules[0].matchs`) of the fields of `document` that `model` does not read."""
    found: list[str] = []
    model_type = inspect.type_info(model)
    assert isinstance(model_type, inspect.StructType)
    fields = {field.encode_name: field.type for field in model_type.fields}
    for name, value in document.items():
        if name in _NOT_CHECKED:
            continue
        if name not in fields:
            found.append(name)
        else:
            _walk(value, fields[name], name, found)
    return found


def _walk(value: Any, expected: inspect.Type, path: str, found: list[str]) -> None:
    if isinstance(expected, inspect.UnionType):
        nested = [t for t in expected.types if isinstance(t, _NESTED)]
        if len(nested) == 1:  # `X | None`: what it holds is X's
            _walk(value, nested[0], path, found)
    elif isinstance(expected, inspect.StructType) and isinstance(value, dict):
        fields = {field.encode_name: field.type for field in expected.fields}
        for name, item in value.items():
            if name not in fields:
                found.append(f"{path}.{name}")
            else:
                _walk(item, fields[name], f"{path}.{name}", found)
    elif isinstance(expected, inspect.ListType | inspect.VarTupleType) and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, expected.item_type, f"{path}[{index}]", found)
    elif isinstance(expected, inspect.DictType) and isinstance(value, dict):
        for key, item in value.items():
            _walk(item, expected.value_type, f"{path}.{key}", found)
