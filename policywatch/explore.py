"""Exploring a database in Datasette (``policywatch datasette``): canned queries shipped as metadata.

The queries live in ``defaults/datasette.yaml``, readable and extendable like the lexicons. Datasette
is an optional extra (``pip install 'policywatch[datasette]'``); without it, the metadata can still be
written out for a Datasette installed elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

QUERIES = Path(__file__).parent / "defaults" / "datasette.yaml"


def datasette_metadata(db_path: Path | str, queries: Path | str = QUERIES) -> dict[str, Any]:
    """Datasette metadata for the database at ``db_path``: its canned queries under its name (the file's stem)."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(Path(queries).read_text(encoding="utf-8"))
    return {"title": data.get("title", "policywatch"), "description": data.get("description", ""),
            "databases": {Path(db_path).stem: {"queries": data["queries"]}}}
