"""A database migrated one version at a time has exactly the schema of one created fresh:
the same tables, columns (types, nullability, defaults, collations), constraints, indexes and
functions."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from overcast.engine import Maintained, open_engine


def catalog(url: str) -> dict[str, Any]:
    """What makes up the schema, in a form two databases can be compared by."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            objects = sorted(
                (kind, name, table, " ".join((sql or "").split()))
                for kind, name, table, sql in conn.execute(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
            )
            columns = {
                table: conn.execute(f'PRAGMA table_info("{table}")').fetchall()
                for kind, table, _, _ in objects if kind == "table"
            }
        return {"objects": objects, "columns": columns}
    import psycopg

    with psycopg.connect(url) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]

        def rows(sql: str) -> list[tuple[Any, ...]]:
            found = conn.execute(sql.encode(), {"schema": schema}).fetchall()
            # definitions name their schema, which differs between the two databases
            return sorted(tuple(re.sub(rf"\b{re.escape(schema)}\.", "", v) if isinstance(v, str) else v
                                for v in row) for row in found)

        return {
            "tables": rows("SELECT c.relname, c.relkind, coalesce(array_to_string(c.reloptions, ','), '') "
                           "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'S', 'v', 'm')"),
            "columns": rows("SELECT table_name, column_name, ordinal_position, data_type, is_nullable, "
                            "coalesce(column_default, ''), coalesce(collation_name, ''), is_identity "
                            "FROM information_schema.columns WHERE table_schema = %(schema)s"),
            "constraints": rows("SELECT cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid) "
                                "FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid "
                                "JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = %(schema)s"),
            "indexes": rows("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s"),
            "functions": rows("SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                              "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(schema)s"),
        }


def test_step_by_step_equals_fresh(engine_url: str, another_engine_url: str) -> None:
    fresh = open_engine(engine_url)  # every migration at once, as a new deployment does
    assert isinstance(fresh, Maintained)
    latest = fresh.schema_version()
    fresh.close()
    for version in range(1, latest + 1):  # one release after another, each a separate open
        old = open_engine(another_engine_url, migrate=False)
        assert isinstance(old, Maintained)
        assert old.migrate(target=version) == (version - 1, version)
        old.close()
    stepped = catalog(another_engine_url)
    assert stepped == catalog(engine_url)
    names = stepped["objects"] if "objects" in stepped else stepped["tables"]
    assert {"queues", "messages", "kv", "overcast_schema"} <= {row[1] if "objects" in stepped else row[0]
                                                                for row in names}
