"""State-of-the-world xDS, one stream at a time: requests in, the next response out.

The counterpart of `projections.xds.delta` for `StreamAggregatedResources`. Per type URL:
- `resource_names` is the whole subscription; `*` means wildcard, and for the types Envoy asks for by
  wildcard (`WILDCARD_TYPES`: listeners, clusters, rate-limit configs) so does an empty list until a
  non-empty one was sent (legacy wildcard); for the others an empty list asks for nothing (Envoy asks
  again for every type it ever watched when it reconnects, with no names for those it no longer watches);
- a request whose `response_nonce` is not the last nonce sent for that type is stale and ignored
  entirely (the client will answer the newer response). A nonce on the first request, before this
  stream sent anything for the type, comes from an older stream: the request is treated as initial;
- a response of a full-state type (`SOTW_FULL_STATE`: LDS and CDS, where an absent resource means
  deleted, and RateLimitConfig, which envoyproxy/ratelimit reads whole) carries every subscribed resource
  that exists; one of another type (route configurations, endpoints, secrets) carries only those that
  changed or were asked for anew: Envoy applies such a response watch by watch and stops at the first it
  refuses, so a resource it refuses, sent again with every change, would hold back the others. Of a
  refused response of several such resources, each goes out again alone (Envoy kept what it had): those
  it takes reach it, and the one it refuses is not sent again until it changes;
- `version_info` is a hash of the (name, version) pairs sent, recorded when the response is built:
  a NACK does not trigger a resend of the same content;
- the first request of a wildcard type is answered even when there is nothing to send, and so is a
  request whose subscription grew (names asked for again are sent again); a request of another type is
  answered only with resources (it has no way to say "does not exist");
- a request repeating the nonce of a response already answered (Envoy does, with a new subscription) is
  no ACK: only the first answer to a response says whether the client took it;
- make-before-break: the additions go out in `ADD_ORDER` with removed resources still present in the
  full-state types, then the removals go out in the reverse order;
- every Cluster response makes every ClusterLoadAssignment go out again (cluster warming).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import msgspec

from projections.xds.delta import REMEMBERED_RESPONSES, WAITS_FOR, WILDCARD, Acknowledgement, SentResponse
from projections.xds.resources import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    SOTW_FULL_STATE,
    WILDCARD_TYPES,
    ResourceSet,
    VersionedResource,
    order_for_adds,
    order_for_removals,
)


class SotwResponse(msgspec.Struct, frozen=True, kw_only=True):
    type_url: str
    nonce: str
    version_info: str
    resources: tuple[VersionedResource, ...]


def version_info_of(resources: Iterable[VersionedResource]) -> str:
    digest = hashlib.sha256()
    for resource in resources:
        digest.update(f"{resource.name}\0{resource.version}\n".encode())
    return digest.hexdigest()[:16]


_GONE = VersionedResource(name="", version="", body=b"")
"""What `sent` gives for a name it does not hold (no version is empty)."""


class SotwSubscription:
    __slots__ = (
        "acked_version",
        "asked",
        "explicit",
        "isolating",
        "must_respond",
        "names",
        "nonce",
        "partial",
        "rejected",
        "resend_all",
        "sent",
        "type_url",
        "version_info",
        "wildcard",
    )

    def __init__(self, type_url: str) -> None:
        self.type_url = type_url
        self.partial = type_url not in SOTW_FULL_STATE
        """Whether a response carries only what changed (see the module's docstring)."""
        self.wildcard = False
        self.explicit = False
        self.names: frozenset[str] = frozenset()
        self.nonce = ""
        self.version_info = ""
        self.sent: dict[str, VersionedResource] = {}
        """What the client was last sent of each name it wants (for a partial type: over every response)."""
        self.must_respond = False
        self.asked: set[str] = set()
        """Names asked for anew (partial types): sent even if unchanged."""
        self.resend_all = False
        """Everything wanted goes out again (partial types: endpoints after a Cluster response)."""
        self.isolating: set[str] = set()
        """Names of a refused response of several (partial types), to send again one per response."""
        self.rejected: dict[str, str] = {}
        """name -> a version the client refused alone (partial types): not sent again, even with everything
        (`resend_all`), until it changes or the client asks for the name anew."""
        self.acked_version = ""

    def update(self, resource_names: Iterable[str]) -> None:
        names = frozenset(resource_names)
        first = not self.nonce and not self.must_respond and not self.explicit and not self.wildcard
        if names:
            self.explicit = True
        wildcard = WILDCARD in names or (not names and not self.explicit and self.type_url in WILDCARD_TYPES)
        explicit = names - {WILDCARD}
        added = explicit - self.names
        if (wildcard and not self.wildcard) or added or first:
            self.must_respond = True
        if self.partial:
            self.asked |= added  # asked for and not yet sent (or not there yet)
            if not wildcard:
                self.asked &= explicit
            for name in added:
                self.rejected.pop(name, None)
            self.resend_all |= wildcard and not self.wildcard
        self.wildcard, self.names = wildcard, explicit

    def view(self, available: Mapping[str, VersionedResource]) -> list[VersionedResource]:
        if self.wildcard:
            return sorted(available.values(), key=lambda r: r.name)
        return [available[n] for n in sorted(self.names) if n in available]

    def due(self, view: list[VersionedResource]) -> list[VersionedResource]:
        """Of `view` (everything the client wants), what a partial type's response carries now."""
        if self.resend_all:
            candidates = view
        else:
            candidates = [
                r
                for r in view
                if r.name in self.asked or (sent := self.sent.get(r.name)) is None or sent.version != r.version
            ]
        if self.rejected:
            for name in [n for n, version in self.rejected.items() if self.sent.get(n, _GONE).version != version]:
                del self.rejected[name]  # changed since, or gone
            candidates = [r for r in candidates if self.rejected.get(r.name) != r.version]
        if self.isolating:
            self.isolating.intersection_update(r.name for r in candidates)  # the others need no more sending
            if self.isolating:
                alone = min(self.isolating)
                self.isolating.discard(alone)
                if self.resend_all:  # what does not go out now stays due
                    self.asked.update(r.name for r in candidates)
                    self.resend_all = False
                return [r for r in candidates if r.name == alone]
        return candidates

    def record_sent(self, view: list[VersionedResource], resources: Iterable[VersionedResource]) -> None:
        """`resources` (of `view`) went out: what the client holds of each name it wants."""
        if self.partial:
            wanted = {r.name for r in view}
            self.sent = {n: r for n, r in self.sent.items() if n in wanted}
            for resource in resources:
                self.sent[resource.name] = resource
                self.asked.discard(resource.name)
            self.resend_all = False
        else:
            self.sent = {r.name: r for r in view}

    def refused(self, response: SentResponse) -> None:
        """The client NACKed `response`. A partial type's client kept what it had: of several resources, each
        goes out again alone (`isolating`); one alone is `rejected`, not sent again until it changes (no loop)."""
        if not self.partial:
            return
        if len(response.resources) == 1:
            name, version = response.resources[0]
            self.rejected[name] = version
            return
        for name, _ in response.resources:
            self.sent.pop(name, None)
            self.isolating.add(name)


class SotwStream:
    """Everything one state-of-the-world ADS stream knows; never shared between streams."""

    def __init__(self, *, answer_timeout: float = 5.0) -> None:
        self.subscriptions: dict[str, SotwSubscription] = {}
        self._answer_timeout = answer_timeout
        self._awaiting_answer: dict[str, float] = {}
        """type URL -> when its latest response was sent, until the client answers it."""
        self._nonces = 0
        self._now = 0.0
        self._sent: dict[str, dict[str, SentResponse]] = {}

    def apply_request(
        self,
        *,
        type_url: str,
        resource_names: Iterable[str] = (),
        response_nonce: str = "",
        error_code: int = 0,
        error_message: str = "",
        has_error: bool = False,
    ) -> Acknowledgement | None:
        """Apply one request; returns the ACK/NACK it carries. A stale request changes nothing but, when it is a
        refusal, what the client is known to hold."""
        subscription = self.subscriptions.get(type_url)
        if subscription is None:
            subscription = self.subscriptions[type_url] = SotwSubscription(type_url)
        if response_nonce and subscription.nonce and response_nonce != subscription.nonce:
            # stale: a newer response is on its way to the client. A refusal still says what it kept (a late
            # NACK, after the answer timeout: of a partial type's response of several, the others go out again)
            refused = self._sent.get(type_url, {}).pop(response_nonce, None) if has_error else None
            if refused is not None:
                subscription.refused(refused)
            return None
        subscription.update(resource_names)
        if not response_nonce or not subscription.nonce:
            return None
        self._awaiting_answer.pop(type_url, None)
        answered = self._sent.get(type_url, {}).pop(response_nonce, None)
        if answered is None:
            return None  # answered before: this request only changes the subscription
        if has_error:
            subscription.refused(answered)
            return Acknowledgement(
                kind="nack",
                type_url=type_url,
                nonce=response_nonce,
                response=answered,
                error_code=error_code,
                error_message=error_message,
            )
        subscription.acked_version = subscription.version_info
        return Acknowledgement(kind="ack", type_url=type_url, nonce=response_nonce, response=answered)

    def next_response(self, resources: ResourceSet, now: float) -> SotwResponse | None:
        """The next response due against `resources`, in make-before-break order; None when there is
        nothing to send now. While a response awaits its answer, nothing more of that type nor of the
        types that wait for it (`WAITS_FOR`) is sent, and no removal, for at most `answer_timeout` seconds."""
        for type_url in [t for t, when in self._awaiting_answer.items() if when <= now - self._answer_timeout]:
            del self._awaiting_answer[type_url]
        self._now = now
        for type_url in order_for_adds(self.subscriptions):
            if self._waiting(type_url):
                continue
            subscription = self.subscriptions[type_url]
            view = subscription.view(resources.of_type(type_url))
            if type_url in SOTW_FULL_STATE:
                current = {r.name for r in view}
                kept = [r for n, r in subscription.sent.items() if n not in current and self._still_wanted(type_url, n)]
                view = sorted([*view, *kept], key=lambda r: r.name)
            if response := self._maybe_respond(type_url, view):
                return response
        if self._awaiting_answer:
            return None
        for type_url in order_for_removals(self.subscriptions):
            view = self.subscriptions[type_url].view(resources.of_type(type_url))
            if response := self._maybe_respond(type_url, view):
                return response
        return None

    def _waiting(self, type_url: str) -> bool:
        return type_url in self._awaiting_answer or any(t in self._awaiting_answer for t in WAITS_FOR.get(type_url, ()))

    def wake_at(self) -> float | None:
        """When waiting for the client stops (if it has not answered by then); None when not waiting."""
        return min(self._awaiting_answer.values()) + self._answer_timeout if self._awaiting_answer else None

    def _still_wanted(self, type_url: str, name: str) -> bool:
        subscription = self.subscriptions[type_url]
        return subscription.wildcard or name in subscription.names

    def _maybe_respond(self, type_url: str, view: list[VersionedResource]) -> SotwResponse | None:
        subscription = self.subscriptions[type_url]
        version_info = version_info_of(view)
        if (
            not subscription.must_respond
            and version_info == subscription.version_info
            and not subscription.isolating
            and not subscription.asked
            and not subscription.resend_all
        ):
            return None
        if not view and not subscription.sent and not subscription.wildcard and not subscription.must_respond:
            return None
        resources = subscription.due(view) if subscription.partial else view
        if subscription.partial and not resources:
            # Nothing to say: a partial-state type has no deletion signal and no "does not exist" answer.
            subscription.must_respond = False
            subscription.version_info = version_info
            subscription.record_sent(view, ())
            return None
        self._nonces += 1
        response = SotwResponse(
            type_url=type_url, nonce=str(self._nonces), version_info=version_info, resources=tuple(resources)
        )
        subscription.must_respond = False
        self._awaiting_answer[type_url] = self._now
        subscription.nonce = response.nonce
        subscription.version_info = version_info
        subscription.record_sent(view, resources)
        if type_url == CLUSTER and (endpoints := self.subscriptions.get(CLUSTER_LOAD_ASSIGNMENT)) is not None:
            endpoints.must_respond = True
            endpoints.resend_all = True
        sent = self._sent.setdefault(type_url, {})
        sent[response.nonce] = SentResponse(
            type_url=type_url,
            nonce=response.nonce,
            resources=tuple((r.name, r.version) for r in resources),
            removed=(),
        )
        while len(sent) > REMEMBERED_RESPONSES:
            del sent[next(iter(sent))]
        return response
