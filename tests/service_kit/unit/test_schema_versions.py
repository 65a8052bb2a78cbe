import pytest
from alembic.script import ScriptDirectory

from auth_service.config import MIGRATIONS_DIR
from order_service.config import MIGRATIONS_DIR as ORDER_MIGRATIONS_DIR
from product_service.config import MIGRATIONS_DIR as PRODUCT_MIGRATIONS_DIR
from service_kit.db.schema_versions import SchemaVersions


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
    assert versions.head in versions.known and "a1c0e7d2b001" in versions.known


@pytest.mark.parametrize("migrations_dir", [MIGRATIONS_DIR, PRODUCT_MIGRATIONS_DIR, ORDER_MIGRATIONS_DIR])
def test_agrees_with_alembic_on_every_service(migrations_dir):
    script = ScriptDirectory(str(migrations_dir))
    versions = SchemaVersions.of(migrations_dir)
    assert versions.head == script.get_current_head()
    assert versions.known == {revision.revision for revision in script.walk_revisions()}


def test_several_heads_are_refused(tmp_path):
    (tmp_path / "versions").mkdir()
    for name, down in [("a1", None), ("b2", "a1"), ("c3", "a1")]:
        (tmp_path / "versions" / f"{name}.py").write_text(f"revision: str = {name!r}\ndown_revision = {down!r}\n")
    with pytest.raises(ValueError, match="several heads"):
        SchemaVersions.of(tmp_path)
