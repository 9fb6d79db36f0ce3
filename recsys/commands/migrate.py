"""Upgrade a trained artifact to this RecLens's artifact schema, keeping its weights.

``migrate DIR [--json]`` rewrites DIR's ``config.json`` and ``manifest.json`` (and those
of ``DIR/no_text/``, the ablation, when present) to the current schema; JSON
``{"model_dir", "schema_version", "artifacts": [{"path", "from_version", "to_version",
"migrated", "filled"}]}`` (``filled``: the configuration values written into an older
config). An artifact already at the current schema is left unchanged. Anything that
is not an artifact this version can upgrade is an error naming the file.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

USES_DATA = False  # the command reads no data source: the CLI adds no --data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="DIR", help="artifact directory (e.g. $RECSYS_HOME/models/<id>)")


def render_text(result: dict[str, Any]) -> str:
    lines = []
    for a in result["artifacts"]:
        if not a["migrated"]:
            lines.append(f"{a['path']}: already at schema {a['to_version']}, left unchanged")
            continue
        filled = ", ".join(f"{k}={json.dumps(v)}" for k, v in a["filled"].items())
        lines.append(f"{a['path']}: schema {a['from_version']} -> {a['to_version']}"
                     + (f" (configuration filled: {filled})" if filled else "") + "; weights unchanged")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recsys.models.transformer.migrate import migrate_artifact

    result = migrate_artifact(args.model_dir)
    result["_text"] = render_text(result)
    return result
