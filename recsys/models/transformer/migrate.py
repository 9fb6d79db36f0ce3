"""Upgrade an artifact of an older schema in place: ``python -m recsys migrate DIR``.

Each step rewrites ``config.json`` and ``manifest.json`` from one schema version to the
next; the weights are never touched. ``manifest.json`` is written last (it carries the
version), so an interrupted migration is simply run again. No torch import here.

Schema 1 -> 2: schema 1's loader filled configuration keys missing from
``config.json`` with values of its own; schema 2 stores every key. The step writes
those values: the three keys added after the first artifacts get the value that
reproduces them (:data:`V1_FILL`), any other missing key the default of the time. The
manifest gets ``schema_version`` 2 and ``model_fingerprint``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from recsys.data.types import DataError
from recsys.models.transformer.artifact import (
    ARTIFACT_KIND,
    CONFIG_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SCHEMA_VERSION,
    artifact_fingerprint,
    read_config,
    read_manifest,
    write_json,
)
from recsys.models.transformer.config import TransformerConfig

ABLATION_DIR = "no_text"  # train_model stores the no-text ablation beside the model

# configuration keys newer than schema 1's first artifacts, with the value that
# reproduces those artifacts (schema 1 read a missing key as this value)
V1_FILL: dict[str, Any] = {"text_rank": 0, "text_prior_count": 0.0, "lr_decay": "none"}

Step = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _v1_to_v2(manifest: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Fill the configuration's missing keys in place; returns what was filled."""
    model = cfg.get("model")
    if not isinstance(model, dict):
        raise DataError("missing key 'model'")
    defaults = {**asdict(TransformerConfig()), **V1_FILL}
    filled = {k: v for k, v in defaults.items() if k not in model}
    model.update(filled)
    manifest["schema_version"] = 2
    return filled


STEPS: dict[int, Step] = {1: _v1_to_v2}  # from version -> step to the next


def migrate_artifact(model_dir: str | Path) -> dict[str, Any]:
    """Upgrade the artifact in ``model_dir`` (and its ``no_text/`` ablation, if present)
    to :data:`SCHEMA_VERSION`. Returns ``{"model_dir", "schema_version", "artifacts":
    [{"path", "from_version", "to_version", "migrated", "filled"}]}``; an artifact
    already at the current schema is left as it is (``migrated`` false). Raises
    DataError (naming the file) for anything that is not a RecLens artifact this
    version can upgrade."""
    d = Path(model_dir)
    if not d.is_dir():
        raise DataError("model directory not found", file=str(d))
    done = [_migrate_one(d)]
    if (d / ABLATION_DIR / MANIFEST_FILE).is_file():
        done.append(_migrate_one(d / ABLATION_DIR))
    return {"model_dir": str(d), "schema_version": SCHEMA_VERSION, "artifacts": done}


def _migrate_one(d: Path) -> dict[str, Any]:
    manifest, cfg = read_manifest(d), read_config(d)
    if not (d / MODEL_FILE).is_file():
        raise DataError(f"artifact is incomplete: {MODEL_FILE} is missing", file=str(d))
    if manifest.get("kind") != ARTIFACT_KIND or cfg.get("kind") != ARTIFACT_KIND:
        raise DataError(f"not a RecLens transformer artifact (kind {manifest.get('kind')!r})",
                        file=str(d / MANIFEST_FILE))
    start = manifest.get("schema_version")
    result: dict[str, Any] = {"path": str(d), "from_version": start, "to_version": SCHEMA_VERSION,
                              "migrated": False, "filled": {}}
    if start == SCHEMA_VERSION:
        return result
    if not isinstance(start, int) or isinstance(start, bool) or start not in STEPS:
        raise DataError(f"cannot migrate schema version {start!r} (this RecLens upgrades versions "
                        f"{', '.join(map(str, sorted(STEPS)))} to {SCHEMA_VERSION}); retrain the model",
                        file=str(d / MANIFEST_FILE))
    version = start
    while version != SCHEMA_VERSION:
        try:
            result["filled"].update(STEPS[version](manifest, cfg))
        except DataError as e:
            raise DataError(e.problem, file=str(d / CONFIG_FILE)) from None
        version = manifest["schema_version"]
    try:
        TransformerConfig.from_dict(dict(cfg["model"]))
    except (TypeError, ValueError, DataError) as e:
        raise DataError(f"bad model configuration: {e}", file=str(d / CONFIG_FILE)) from None
    write_json(d / CONFIG_FILE, cfg)
    manifest["model_fingerprint"] = artifact_fingerprint(d)
    write_json(d / MANIFEST_FILE, manifest)
    result["migrated"] = True
    return result
