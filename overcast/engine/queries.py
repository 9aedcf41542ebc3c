"""Named SQL queries, loaded from an engine's ``queries.sql``.

A file holds blocks that start with ``-- name: NAME``; everything up to the next such line is
that query. Each engine keeps its own file, so a service never sees SQL.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(package: str, filename: str = "queries.sql") -> dict[str, str]:
    """Parse ``filename`` in ``package`` into a mapping of query name to SQL text."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith("--")]
        sql = "\n".join(lines).strip()
        if match.group(1) in queries:
            raise ValueError(f"{package}/{filename}: query {match.group(1)!r} defined twice")
        queries[match.group(1)] = sql
    return queries


def load_migrations(package: str) -> list[tuple[int, str, str]]:
    """The migrations of ``package`` (files ``NNNN_name.sql``) as (version, name, sql), in order."""
    found = []
    for entry in resources.files(package).iterdir():
        m = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{package}: migrations must be numbered 0001, 0002, ... without gaps")
    return found
