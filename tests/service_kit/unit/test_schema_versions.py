from auth_service.config import MIGRATIONS_DIR
from service_kit.migrations import SchemaVersions


class TestCanServe:
    versions = SchemaVersions(head="b2", known=frozenset({"a1", "b2"}))

    def test_at_our_head(self):
        assert self.versions.can_serve("b2")

    def test_behind_our_head_is_not_ready(self):
        assert not self.versions.can_serve("a1")

    def test_never_migrated_is_not_ready(self):
        assert not self.versions.can_serve(None)

    def test_a_newer_release_migrated_ahead_of_us_is_served(self):
        assert self.versions.can_serve("c3")


def test_reads_head_and_history_from_a_migrations_directory():
    versions = SchemaVersions.of(MIGRATIONS_DIR)
    assert versions.head == "a1c0e7d2b001" and versions.head in versions.known
