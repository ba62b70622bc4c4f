"""envoyproxy/ratelimit's configuration model: one `RateLimitConfig` per domain, nested descriptors, policies.

The model is validated as rl validates its YAML files and xDS resources (`src/config/config_impl.go`): a config
with any error is rejected as a whole, with a message naming the config, its domain and the descriptor path.
It converts to the `ratelimit.config.ratelimit.v3.RateLimitConfig` protobuf (what rl subscribes to over xDS) and
to rl's YAML file format, and parses that YAML back (with rl's check of unknown keys).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import yaml

from projections.errors import RateLimitConfigError
from projections.ratelimit import rls_conf_pb2

TYPE_URL = "type.googleapis.com/ratelimit.config.ratelimit.v3.RateLimitConfig"
MAX_UINT32 = 4_294_967_295


class Unit(enum.IntEnum):
    """rl's time units, numbered as `RateLimitUnit` in rls_conf.proto and Envoy's rls.proto (not in order)."""

    UNKNOWN = 0
    SECOND = 1
    MINUTE = 2
    HOUR = 3
    DAY = 4
    MONTH = 5
    YEAR = 6
    WEEK = 7

    @property
    def seconds(self) -> int:
        """Window length (rl `UnitToDivider`); months are 30 days and years 365. UNKNOWN has no window."""
        if self is Unit.UNKNOWN:
            raise ValueError("the UNKNOWN unit has no window")
        return _UNIT_SECONDS[self]


_UNIT_SECONDS = {
    Unit.SECOND: 1,
    Unit.MINUTE: 60,
    Unit.HOUR: 3600,
    Unit.DAY: 86400,
    Unit.WEEK: 604800,
    Unit.MONTH: 2592000,
    Unit.YEAR: 31536000,
}


class RateLimitPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A rule's limit: `requests_per_unit` per `unit`, or `unlimited` (then the unit must stay UNKNOWN)."""

    unit: Unit = Unit.UNKNOWN
    requests_per_unit: int = 0
    unlimited: bool = False
    name: str = ""
    replaces: tuple[str, ...] = ()


class Descriptor(msgspec.Struct, frozen=True, kw_only=True):
    """One level of the descriptor tree. `value` empty matches any value of `key`; a `*` in it is a wildcard.

    `share_threshold` (YAML only, not in the protobuf) makes every value a wildcard matches share one counter.
    `value_to_metric` (YAML only) only changes rl's stats names.
    """

    key: str
    value: str = ""
    rate_limit: RateLimitPolicy | None = None
    descriptors: tuple[Descriptor, ...] = ()
    shadow_mode: bool = False
    quota_mode: bool = False
    detailed_metric: bool = False
    share_threshold: bool = False
    value_to_metric: bool = False

    @property
    def composite_key(self) -> str:
        """rl's map key at one level: `key`, or `key_value` when a value is given."""
        return f"{self.key}_{self.value}" if self.value else self.key


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The rate limits of one domain. Constructing (or decoding) an invalid config raises RateLimitConfigError."""

    name: str
    domain: str
    descriptors: tuple[Descriptor, ...] = ()

    def __post_init__(self) -> None:
        validate(self)


def validate(config: RateLimitConfig) -> None:
    """rl's load errors for one config (duplicate domains across configs are checked when loading a set)."""
    if not config.domain:
        raise _error(config, "", "config file cannot have empty domain")
    _validate_level(config, config.descriptors, "descriptors", config.domain)


def _validate_level(config: RateLimitConfig, descriptors: tuple[Descriptor, ...], path: str, parent: str) -> None:
    seen: set[str] = set()
    for index, descriptor in enumerate(descriptors):
        here = f"{path}[{index}]"
        if not descriptor.key:
            raise _error(config, here, "descriptor has empty key")
        full_key = f"{parent}.{descriptor.composite_key}"
        if descriptor.composite_key in seen:
            raise _error(config, here, f"duplicate descriptor composite key '{full_key}'")
        seen.add(descriptor.composite_key)
        policy = descriptor.rate_limit
        if policy is not None:
            _validate_policy(config, policy, f"{here}.rate_limit")
        if descriptor.share_threshold and "*" not in descriptor.value:
            raise _error(config, here, "share_threshold can only be used with wildcard values")
        _validate_level(config, descriptor.descriptors, f"{here}.descriptors", full_key)


def _validate_policy(config: RateLimitConfig, policy: RateLimitPolicy, path: str) -> None:
    if policy.unlimited:
        if policy.unit is not Unit.UNKNOWN:
            raise _error(config, path, "should not specify rate limit unit when unlimited")
    elif policy.unit is Unit.UNKNOWN:
        raise _error(config, path, "invalid rate limit unit ''")
    if not 0 <= policy.requests_per_unit <= MAX_UINT32:
        raise _error(config, path, f"requests_per_unit {policy.requests_per_unit} is not a uint32")
    for replaced in policy.replaces:
        if not replaced:
            raise _error(config, path, "should not have an empty replaces entry")
        if replaced == policy.name:
            raise _error(config, path, "replaces should not contain name of same descriptor")


def _error(config: RateLimitConfig, path: str, message: str) -> RateLimitConfigError:
    return RateLimitConfigError(config.name, config.domain, path, message)


def check_unique_domains(configs: Iterable[RateLimitConfig]) -> None:
    """rl refuses two configs for one domain unless MERGE_DOMAIN_CONFIG is set."""
    owners: dict[str, str] = {}
    for config in configs:
        if config.domain in owners:
            raise _error(config, "", f"duplicate domain '{config.domain}' in config file")
        owners[config.domain] = config.name


# --- protobuf ---------------------------------------------------------------------------------------------------


def to_proto(config: RateLimitConfig) -> rls_conf_pb2.RateLimitConfig:
    """The xDS resource rl loads. `share_threshold` and `value_to_metric` have no protobuf field and are dropped."""
    return rls_conf_pb2.RateLimitConfig(
        name=config.name, domain=config.domain, descriptors=[_descriptor_to_proto(d) for d in config.descriptors]
    )


def _descriptor_to_proto(descriptor: Descriptor) -> rls_conf_pb2.RateLimitDescriptor:
    message = rls_conf_pb2.RateLimitDescriptor(
        key=descriptor.key,
        value=descriptor.value,
        descriptors=[_descriptor_to_proto(d) for d in descriptor.descriptors],
        shadow_mode=descriptor.shadow_mode,
        detailed_metric=descriptor.detailed_metric,
        quota_mode=descriptor.quota_mode,
    )
    policy = descriptor.rate_limit
    if policy is not None:
        message.rate_limit.CopyFrom(
            rls_conf_pb2.RateLimitPolicy(
                unit=policy.unit.name,
                requests_per_unit=policy.requests_per_unit,
                unlimited=policy.unlimited,
                name=policy.name,
                replaces=[rls_conf_pb2.RateLimitReplace(name=name) for name in policy.replaces],
            )
        )
    return message


def from_proto(message: rls_conf_pb2.RateLimitConfig) -> RateLimitConfig:
    """The model of a protobuf RateLimitConfig; raises RateLimitConfigError as rl would NACK it."""
    return RateLimitConfig(
        name=message.name,
        domain=message.domain,
        descriptors=tuple(_descriptor_from_proto(d) for d in message.descriptors),
    )


def _descriptor_from_proto(message: rls_conf_pb2.RateLimitDescriptor) -> Descriptor:
    policy = None
    if message.HasField("rate_limit"):
        source = message.rate_limit
        policy = RateLimitPolicy(
            unit=_unit_from_number(source.unit),
            requests_per_unit=source.requests_per_unit,
            unlimited=source.unlimited,
            name=source.name,
            replaces=tuple(replace.name for replace in source.replaces),
        )
    return Descriptor(
        key=message.key,
        value=message.value,
        rate_limit=policy,
        descriptors=tuple(_descriptor_from_proto(d) for d in message.descriptors),
        shadow_mode=message.shadow_mode,
        quota_mode=message.quota_mode,
        detailed_metric=message.detailed_metric,
    )


def _unit_from_number(number: int) -> Unit:
    try:
        return Unit(number)
    except ValueError:
        return Unit.UNKNOWN


# --- rl's YAML file format -------------------------------------------------------------------------------------

YAML_KEYS = frozenset(
    {
        "domain",
        "key",
        "value",
        "descriptors",
        "rate_limit",
        "unit",
        "requests_per_unit",
        "unlimited",
        "shadow_mode",
        "quota_mode",
        "name",
        "replaces",
        "detailed_metric",
        "value_to_metric",
        "share_threshold",
        "metadata",
    }
)


def to_yaml(config: RateLimitConfig) -> str:
    """rl's config file for this domain (the file rl reads from RUNTIME_ROOT/.../config/*.yaml)."""
    document = {"domain": config.domain, "descriptors": [_descriptor_to_yaml(d) for d in config.descriptors]}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _descriptor_to_yaml(descriptor: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {"key": descriptor.key}
    if descriptor.value:
        out["value"] = descriptor.value
    policy = descriptor.rate_limit
    if policy is not None:
        limit: dict[str, Any] = {}
        if policy.name:
            limit["name"] = policy.name
        if policy.replaces:
            limit["replaces"] = [{"name": name} for name in policy.replaces]
        if policy.unlimited:
            limit["unlimited"] = True
        else:
            limit["unit"] = policy.unit.name.lower()
            limit["requests_per_unit"] = policy.requests_per_unit
        out["rate_limit"] = limit
    for flag in ("shadow_mode", "quota_mode", "detailed_metric", "share_threshold", "value_to_metric"):
        if getattr(descriptor, flag):
            out[flag] = True
    if descriptor.descriptors:
        out["descriptors"] = [_descriptor_to_yaml(d) for d in descriptor.descriptors]
    return out


def from_yaml(text: str, name: str) -> RateLimitConfig:
    """Parse one rl config file. Unknown keys (at any depth) and malformed values are load errors, as in rl.

    `metadata` is accepted and ignored. A unit string that is not a unit is an error unless the rule is unlimited
    (rl ignores the unit of an unlimited rule unless it is a valid one).
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RateLimitConfigError(name, "", "", f"error loading config file: {exc}") from exc
    if not isinstance(document, Mapping):
        raise RateLimitConfigError(name, "", "", "error loading config file: the document is not a mapping")
    _check_keys(name, document, "")
    domain = _string(name, "", document, "domain", "")
    descriptors = tuple(
        _descriptor_from_yaml(name, domain, item, f"descriptors[{i}]")
        for i, item in enumerate(_list(name, domain, document, "descriptors", ""))
    )
    return RateLimitConfig(name=name, domain=domain, descriptors=descriptors)


def _check_keys(name: str, node: Any, path: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                raise RateLimitConfigError(name, "", path, f"config error, key is not of type string: {key}")
            if key not in YAML_KEYS:
                raise RateLimitConfigError(name, "", path, f"config error, unknown key '{key}'")
            if key != "metadata":
                _check_keys(name, value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if not isinstance(item, Mapping):
                raise RateLimitConfigError(
                    name,
                    "",
                    f"{path}[{index}]",
                    f"config error, yaml file contains list of type other than map: {item}",
                )
            _check_keys(name, item, f"{path}[{index}]")


def _descriptor_from_yaml(name: str, domain: str, node: Mapping[str, Any], path: str) -> Descriptor:
    policy = None
    limit = node.get("rate_limit")
    if limit is not None:
        if not isinstance(limit, Mapping):
            raise RateLimitConfigError(name, domain, f"{path}.rate_limit", "rate_limit must be a mapping")
        unlimited = _bool(name, domain, limit, "unlimited", path)
        unit_text = _string(name, domain, limit, "unit", path)
        unit = Unit.__members__.get(unit_text.upper(), Unit.UNKNOWN)
        if unit is Unit.UNKNOWN and not unlimited:
            raise RateLimitConfigError(name, domain, f"{path}.rate_limit", f"invalid rate limit unit '{unit_text}'")
        requests = limit.get("requests_per_unit", 0)
        if not isinstance(requests, int) or isinstance(requests, bool):
            raise RateLimitConfigError(name, domain, f"{path}.rate_limit", "requests_per_unit must be an integer")
        policy = RateLimitPolicy(
            unit=unit,
            requests_per_unit=requests,
            unlimited=unlimited,
            name=_string(name, domain, limit, "name", path),
            replaces=tuple(
                _string(name, domain, item, "name", path)
                for item in _list(name, domain, limit, "replaces", f"{path}.rate_limit")
            ),
        )
    return Descriptor(
        key=_string(name, domain, node, "key", path),
        value=_string(name, domain, node, "value", path),
        rate_limit=policy,
        descriptors=tuple(
            _descriptor_from_yaml(name, domain, item, f"{path}.descriptors[{i}]")
            for i, item in enumerate(_list(name, domain, node, "descriptors", path))
        ),
        shadow_mode=_bool(name, domain, node, "shadow_mode", path),
        quota_mode=_bool(name, domain, node, "quota_mode", path),
        detailed_metric=_bool(name, domain, node, "detailed_metric", path),
        share_threshold=_bool(name, domain, node, "share_threshold", path),
        value_to_metric=_bool(name, domain, node, "value_to_metric", path),
    )


def _string(name: str, domain: str, node: Mapping[str, Any], key: str, path: str) -> str:
    value = node.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RateLimitConfigError(name, domain, path, f"{key} must be a string")
    return str(value)


def _bool(name: str, domain: str, node: Mapping[str, Any], key: str, path: str) -> bool:
    value = node.get(key, False)
    if not isinstance(value, bool):
        raise RateLimitConfigError(name, domain, path, f"{key} must be true or false")
    return value


def _list(name: str, domain: str, node: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    value = node.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RateLimitConfigError(name, domain, path, f"{key} must be a list")
    return value
