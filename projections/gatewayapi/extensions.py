"""EnvoyExtensionPolicy -> IR: the Lua scripts and external processors the winning policy of a route runs
there (`ir.Extensions`), the backends its processors reach, and what in a policy cannot be honoured.

The most specific policy wins as a whole (route, then listener, then Gateway), as in Envoy Gateway. What
cannot be honoured (a missing ConfigMap or backend, a script without an entry point, Wasm) is reported in the
policy's status; as in Envoy Gateway its routes then answer 500, unless every failing part is an external
processor or Wasm module marked `failOpen`: those parts are left out and the rest runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from events.keys import ResourceKey
from projections import ir
from projections.gatewayapi.backends import Problem, Target, resolve_backend
from projections.gatewayapi.http import parse_duration
from projections.gatewayapi.inputs import Reader, Resource
from projections.ir import extensions as ext
from projections.resources.core import ConfigMap
from projections.resources.envoygateway import EnvoyExtensionPolicy
from projections.resources.envoygateway.envoyextensionpolicy import ExtProc, Lua

KIND = "EnvoyExtensionPolicy"
LUA_KEY = "lua"  # the ConfigMap key a script is read from (Envoy Gateway's; else the first key)
_ENTRY_POINT = re.compile(r"\bfunction\s+envoy_on_(request|response)\s*\(")


class ExtensionResult(msgspec.Struct, frozen=True, kw_only=True):
    extensions: ir.Extensions | None = None
    targets: tuple[Target, ...] = ()
    problems: tuple[str, ...] = ()
    fail_closed: bool = False  # a part that cannot be honoured and does not fail open: the routes answer 500


def extension_problems(reader: Reader, policy: Resource) -> tuple[str, ...]:
    """What in the policy cannot be honoured (the policy kind's check for its status)."""
    return translate_extensions(reader, policy).problems


def route_extensions(reader: Reader, candidates: Sequence[Resource]) -> ExtensionResult | None:
    """The winning EnvoyExtensionPolicy of a route (`candidates`: route, listener, Gateway), translated."""
    return translate_extensions(reader, candidates[0]) if candidates else None


class _Translation:
    def __init__(self, reader: Reader, policy: Resource) -> None:
        self.reader = reader
        self.key = policy.key
        self.name = f"{policy.key.namespace}/{policy.key.name}"
        self.problems: list[str] = []
        self.fail_closed = False
        self.targets: list[Target] = []

    def fail(self, message: str, *, fail_open: bool = False) -> None:
        self.problems.append(message)
        self.fail_closed = self.fail_closed or not fail_open

    def lua(self, index: int, spec: Lua) -> ext.Lua | None:
        what = f"lua[{index}]"
        if spec.type == "ValueRef":
            code = self.lua_from_config_map(what, spec)
        elif spec.inline:
            code = spec.inline
        else:
            self.fail(f"{what}: an Inline script needs inline")
            return None
        if code is None:
            return None
        if not _ENTRY_POINT.search(code):
            self.fail(f"{what}: the script defines neither envoy_on_request nor envoy_on_response")
            return None
        return ext.Lua(name=f"{self.name}/lua/{index}", code=code)

    def lua_from_config_map(self, what: str, spec: Lua) -> str | None:
        ref = spec.value_ref
        if ref is None or (ref.group, ref.kind) != ("", "ConfigMap"):
            self.fail(f"{what}: a ValueRef script needs valueRef to a ConfigMap")
            return None
        key = ResourceKey(group="", kind="ConfigMap", namespace=self.key.namespace, name=ref.name)
        found = self.reader.model(key, ConfigMap)
        if found is None:
            self.fail(f"{what}: ConfigMap {key.namespace}/{ref.name} not found")
            return None
        data = found[1].data
        code = data.get(LUA_KEY) or (data[min(data)] if data else None)
        if code is None:
            self.fail(f"{what}: ConfigMap {key.namespace}/{ref.name} has no data")
        return code

    def ext_proc(self, index: int, spec: ExtProc) -> ext.ExtProc | None:
        what = f"extProc[{index}]"
        fail_open = bool(spec.fail_open)
        refs = spec.all_backend_refs
        if len(refs) != 1:
            self.fail(f"{what}: egd needs exactly one backendRef", fail_open=fail_open)
            return None
        if spec.backend_settings:
            self.fail(f"{what}: backendSettings are not supported by egd", fail_open=fail_open)
            return None
        resolved = resolve_backend(self.reader, self.key, refs[0])
        if isinstance(resolved, Problem):
            self.fail(f"{what}: {resolved.message}", fail_open=fail_open)
            return None
        timeout = parse_duration(spec.message_timeout) if spec.message_timeout else None
        mode = spec.processing_mode
        request = mode.request if mode is not None else None
        response = mode.response if mode is not None else None
        metadata = spec.metadata
        ref = refs[0]
        authority = f"{ref.name}.{ref.namespace or self.key.namespace}"
        self.targets.append(resolved)
        return ext.ExtProc(
            name=f"{self.name}/extproc/{index}",
            index=index,
            destination=resolved.name,
            authority=f"{authority}:{ref.port}" if ref.port is not None else authority,
            request_headers=request is not None,
            response_headers=response is not None,
            request_body=request.body if request is not None else None,
            response_body=response.body if response is not None else None,
            request_attributes=request.attributes if request is not None else (),
            response_attributes=response.attributes if response is not None else (),
            allow_mode_override=mode.allow_mode_override if mode is not None else False,
            message_timeout_ms=timeout,
            fail_open=fail_open,
            forwarding_namespaces=metadata.accessible_namespaces if metadata is not None else (),
            receiving_namespaces=metadata.writable_namespaces if metadata is not None else (),
        )


def translate_extensions(reader: Reader, policy: Resource) -> ExtensionResult:
    model = policy.model
    if not isinstance(model, EnvoyExtensionPolicy):
        return ExtensionResult()
    spec = model.spec
    translation = _Translation(reader, policy)
    for i, wasm in enumerate(spec.wasm):
        translation.fail(
            f"wasm[{i}]: Wasm is not supported by egd (Envoy Gateway fetches the module host-side)",
            fail_open=wasm.get("failOpen") is True,
        )
    luas = [translation.lua(i, s) for i, s in enumerate(spec.lua)]
    ext_procs = [translation.ext_proc(i, s) for i, s in enumerate(spec.ext_proc)]
    problems = tuple(translation.problems)
    if translation.fail_closed:
        return ExtensionResult(problems=problems, fail_closed=True)
    extensions = ir.Extensions(
        policy=translation.name,
        luas=tuple(x for x in luas if x is not None),
        ext_procs=tuple(x for x in ext_procs if x is not None),
    )
    found = extensions if extensions.luas or extensions.ext_procs else None
    return ExtensionResult(extensions=found, targets=tuple(translation.targets), problems=problems)
