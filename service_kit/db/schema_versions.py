"""Which schema revisions this code ships, read without importing Alembic: a replica checks its database
against them at every start, and Alembic's script loader would cost about half a second of each restart."""

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SchemaVersions:
    """The migrations this code ships, to tell whether a database is ready for it."""

    head: str | None
    known: frozenset[str]

    @classmethod
    def of(cls, migrations_dir: Path) -> "SchemaVersions":
        """From each version file's `revision` and `down_revision` (the head is nobody's down revision)."""
        parents: dict[str, set[str]] = {}
        for path in sorted((migrations_dir / "versions").glob("*.py")):
            assigned = _module_constants(path)
            revision = assigned.get("revision")
            if isinstance(revision, str):
                down = assigned.get("down_revision")
                merged = down if isinstance(down, tuple | list) else ()
                parents[revision] = {down} if isinstance(down, str) else {str(parent) for parent in merged}
        below = set().union(*parents.values()) if parents else set()
        heads = sorted(set(parents) - below)
        if len(heads) > 1:
            raise ValueError(f"{migrations_dir} has several heads: {heads}")
        return cls(head=heads[0] if heads else None, known=frozenset(parents))

    def can_serve(self, revision: str | None) -> bool:
        """At our head, or at one we do not know: a newer release migrated ahead of us during its rollout,
        and migrations stay compatible with the release before. Never behind, never unmigrated."""
        if self.head is None:
            return True
        return revision is not None and (revision == self.head or revision not in self.known)


def _module_constants(path: Path) -> dict[str, object]:
    """The module-level `name = <literal>` (or `name: T = <literal>`) assignments of a Python file."""
    constants: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = [t for t in node.targets if isinstance(t, ast.Name)], node.value
        else:
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            continue
        for target in targets:
            constants[target.id] = literal
    return constants
