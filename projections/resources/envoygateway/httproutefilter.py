"""HTTPRouteFilter: Envoy Gateway's extension filters for HTTPRoute rules (regex URL rewrite, direct response,
credential injection), referenced from a rule's `filters[].extensionRef`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from projections.resources.meta import K8sModel, K8sObject
from projections.resources.references import LocalObjectReference, SecretObjectReference


class ReplaceRegexMatch(K8sModel, frozen=True, kw_only=True):
    pattern: Annotated[str, msgspec.Meta(min_length=1)]
    substitution: str


class HTTPPathModifier(K8sModel, frozen=True, kw_only=True):
    type: Literal["ReplaceRegexMatch"]
    replace_regex_match: ReplaceRegexMatch | None = None

    def __post_init__(self) -> None:
        if self.replace_regex_match is None:
            raise ValueError("a path modifier of type ReplaceRegexMatch needs replaceRegexMatch")


class HTTPHostnameModifier(K8sModel, frozen=True, kw_only=True):
    type: Literal["Header", "Backend"]
    header: str | None = None

    def __post_init__(self) -> None:
        if (self.type == "Header") != (self.header is not None):
            raise ValueError("header must be set for type Header, and only for it")


class HTTPURLRewriteFilter(K8sModel, frozen=True, kw_only=True):
    hostname: HTTPHostnameModifier | None = None
    path: HTTPPathModifier | None = None
    append_x_forwarded_host: bool | None = None  # read by nothing yet (egd reports it unsupported)


class CustomResponseBody(K8sModel, frozen=True, kw_only=True):
    type: Literal["Inline", "ValueRef"] = "Inline"
    inline: str | None = None
    value_ref: LocalObjectReference | None = None

    def __post_init__(self) -> None:
        if self.type == "Inline" and self.inline is None:
            raise ValueError("a body of type Inline needs inline")
        if self.type == "ValueRef" and self.value_ref is None:
            raise ValueError("a body of type ValueRef needs valueRef")


class HTTPDirectResponseFilter(K8sModel, frozen=True, kw_only=True):
    content_type: str | None = None
    body: CustomResponseBody | None = None
    status_code: Annotated[int, msgspec.Meta(ge=200, le=599)] | None = None
    header: dict[str, object] | None = None  # read by nothing yet (egd reports it unsupported)


# An HTTP header name (RFC 7230 token).
HeaderName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+\Z")]


class InjectedCredential(K8sModel, frozen=True, kw_only=True):
    value_ref: SecretObjectReference  # an Opaque Secret holding the credential in its `credential` key


class HTTPCredentialInjectionFilter(K8sModel, frozen=True, kw_only=True):
    header: HeaderName | None = None  # None: Authorization
    overwrite: bool | None = None  # None: false, a header the client sent is kept
    credential: InjectedCredential


class HTTPRouteFilterSpec(K8sModel, frozen=True, kw_only=True):
    url_rewrite: HTTPURLRewriteFilter | None = None
    direct_response: HTTPDirectResponseFilter | None = None
    credential_injection: HTTPCredentialInjectionFilter | None = None
    # Read by nothing yet (egd reports them unsupported); kept loosely typed.
    request_mirror: dict[str, object] | None = None
    matches: tuple[dict[str, object], ...] = ()

    @property
    def unsupported(self) -> tuple[str, ...]:
        """The fields set here that egd cannot honour."""
        rewrite, response = self.url_rewrite, self.direct_response
        return tuple(
            name
            for name, value in (
                ("requestMirror", self.request_mirror),
                ("matches", self.matches),
                ("urlRewrite.appendXForwardedHost", rewrite.append_x_forwarded_host if rewrite else None),
                ("directResponse.header", response.header if response else None),
            )
            if value is not None and value != ()
        )


class HTTPRouteFilter(K8sObject, frozen=True, kw_only=True):
    spec: HTTPRouteFilterSpec
