"""Conditional requests (RFC 9110 section 13): a product's entity tag is its version, `"<version>"`.
A writer proves which version it read with `If-Match` (stale: 412) or a `version` body field (stale: 409)."""

import re
from dataclasses import dataclass
from enum import StrEnum

from service_kit.errors import PreconditionFailed, PreconditionRequired, ValidationFailed, VersionConflict

# One entity tag, optionally weak; our opaque part is always decimal digits.
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_TAG_LIST = re.compile(rf"\s*{_TAG}\s*(?:,\s*{_TAG}\s*)*")
_TAG_PARTS = re.compile(r'(W/)?"([^"]*)"')
_VERSION = re.compile(r"[1-9][0-9]{0,17}")


def etag(version: int) -> str:
    """The strong entity tag of a product at this version."""
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class EntityTags:
    """An `If-Match` / `If-None-Match` value: `*`, or the versions its tags name. Tags we never issue (or a
    malformed header) name no version, so they match nothing, as RFC 9110 has it."""

    any: bool
    strong: frozenset[int]
    weak: frozenset[int]

    @classmethod
    def parse(cls, header: str) -> "EntityTags":
        if header.strip() == "*":
            return cls(any=True, strong=frozenset(), weak=frozenset())
        if not _TAG_LIST.fullmatch(header):
            return cls(any=False, strong=frozenset(), weak=frozenset())
        strong: set[int] = set()
        weak: set[int] = set()
        for weak_prefix, opaque in _TAG_PARTS.findall(header):
            if _VERSION.fullmatch(opaque):
                weak.add(int(opaque))
                if not weak_prefix:
                    strong.add(int(opaque))
        return cls(any=False, strong=frozenset(strong), weak=frozenset(weak))


def not_modified(if_none_match: str | None, version: int) -> bool:
    """Whether a GET with this `If-None-Match` gets 304 (weak comparison, as RFC 9110 13.1.2 says)."""
    if if_none_match is None:
        return False
    tags = EntityTags.parse(if_none_match)
    return tags.any or version in tags.weak


class Source(StrEnum):
    IF_MATCH = "if_match"
    BODY = "body"


@dataclass(frozen=True, slots=True)
class Precondition:
    """The versions a write may apply to, and how to report that the row has moved on."""

    versions: frozenset[int]
    source: Source

    def stale(self, current_version: int) -> PreconditionFailed | VersionConflict:
        """The error for a write whose version is no longer current."""
        details = {"current_version": current_version}
        if self.source is Source.IF_MATCH:
            return PreconditionFailed(details=details, headers={"ETag": etag(current_version)})
        return VersionConflict(details=details)


def for_write(if_match: str | None, body_version: int | None) -> Precondition:
    """The precondition of a PUT or PATCH; 428 when the caller does not say which version it read."""
    if if_match is None:
        if body_version is None:
            raise PreconditionRequired()
        return Precondition(versions=frozenset({body_version}), source=Source.BODY)
    tags = EntityTags.parse(if_match)
    if tags.any:
        raise PreconditionRequired("If-Match: * does not say which version you read; send its ETag.")
    if body_version is not None and body_version not in tags.strong:
        raise ValidationFailed(
            "The body's version and If-Match disagree.",
            details={"fields": [{"field": "version", "in": "body", "message": "Disagrees with If-Match."}]},
        )
    return Precondition(versions=tags.strong, source=Source.IF_MATCH)


def for_delete(if_match: str | None) -> Precondition | None:
    """The precondition of a DELETE: none unless the caller sends If-Match with a tag (`*` only asks that the
    product exists, which every DELETE checks)."""
    if if_match is None:
        return None
    tags = EntityTags.parse(if_match)
    return None if tags.any else Precondition(versions=tags.strong, source=Source.IF_MATCH)
