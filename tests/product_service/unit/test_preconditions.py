"""Entity tags and write preconditions: which version a writer proved it read, and how staleness is reported."""

import pytest

from product_service.preconditions import EntityTags, Source, etag, for_delete, for_write, not_modified
from service_kit.errors import PreconditionFailed, PreconditionRequired, ValidationFailed, VersionConflict


class TestEntityTags:
    @pytest.mark.parametrize(
        ("header", "strong", "weak"),
        [
            ('"3"', {3}, {3}),
            (' "3" ', {3}, {3}),
            ('W/"3"', set(), {3}),
            ('"3", W/"4", "5"', {3, 5}, {3, 4, 5}),
            ('"abc"', set(), set()),
            ('"0"', set(), set()),
            ('"-1"', set(), set()),
            ('"03"', set(), set()),
            ("3", set(), set()),
            ('"3', set(), set()),
            ('"3" "4"', set(), set()),
            ('"' + "9" * 30 + '"', set(), set()),
            ("", set(), set()),
        ],
    )
    def test_parses_the_versions_our_tags_name(self, header, strong, weak):
        tags = EntityTags.parse(header)
        assert (tags.any, set(tags.strong), set(tags.weak)) == (False, strong, weak)

    def test_star_matches_any(self):
        assert EntityTags.parse(" * ").any

    def test_etag_round_trips(self):
        assert EntityTags.parse(etag(42)).strong == {42}


class TestNotModified:
    def test_the_current_tag_is_not_modified(self):
        assert not_modified('"4"', 4)

    def test_a_weak_current_tag_is_not_modified_too(self):
        assert not_modified('W/"4"', 4)

    def test_an_old_tag_is_modified(self):
        assert not not_modified('"3"', 4)

    def test_no_header_is_modified(self):
        assert not not_modified(None, 4)

    def test_star_is_not_modified(self):
        assert not_modified("*", 4)


class TestForWrite:
    def test_neither_header_nor_body_version_is_428(self):
        with pytest.raises(PreconditionRequired):
            for_write(None, None)

    def test_if_match_star_proves_nothing_and_is_428(self):
        with pytest.raises(PreconditionRequired):
            for_write("*", None)

    def test_if_match_gives_its_strong_versions_and_a_412_when_stale(self):
        precondition = for_write('"3"', None)
        assert (precondition.versions, precondition.source) == (frozenset({3}), Source.IF_MATCH)
        stale = precondition.stale(5)
        assert isinstance(stale, PreconditionFailed)
        assert stale.details == {"current_version": 5}
        assert stale.headers["ETag"] == '"5"'

    def test_a_weak_if_match_matches_no_version(self):
        assert for_write('W/"3"', None).versions == frozenset()

    def test_body_version_gives_a_409_when_stale(self):
        precondition = for_write(None, 3)
        assert (precondition.versions, precondition.source) == (frozenset({3}), Source.BODY)
        stale = precondition.stale(5)
        assert isinstance(stale, VersionConflict) and stale.status_code == 409
        assert stale.details == {"current_version": 5}

    def test_agreeing_header_and_body_use_the_header(self):
        assert for_write('"3"', 3).source is Source.IF_MATCH

    def test_disagreeing_header_and_body_are_refused(self):
        with pytest.raises(ValidationFailed):
            for_write('"3"', 2)


class TestForDelete:
    def test_no_header_is_unconditional(self):
        assert for_delete(None) is None

    def test_star_is_unconditional(self):
        assert for_delete("*") is None

    def test_a_tag_makes_it_conditional(self):
        precondition = for_delete('"7"')
        assert precondition is not None and precondition.versions == {7}
