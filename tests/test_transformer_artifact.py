"""The transformer artifact: manifest reader, model key, schema migration."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from recsys.cli import main
from recsys.data.types import DataError
from recsys.models.base import model_key
from recsys.models.transformer import SCHEMA_VERSION, TransformerConfig, TransformerRecommender
from recsys.models.transformer.artifact import read_manifest
from recsys.text import item_embeddings
from tests.test_transformer_helpers import chain_world

TINY = dict(d_model=16, n_layers=1, n_heads=1, max_len=8, use_text=False)


@pytest.fixture(scope="module")
def ds():
    return chain_world(n_users=10)


def untrained(ds, seed=0):
    return TransformerRecommender(ds.item_ids, TransformerConfig(**TINY), None, seed=seed)


def test_reading_a_manifest_imports_no_torch():
    code = ("import sys; from recsys.models.transformer.artifact import read_manifest; "
            "import recsys.models.transformer as t; t.read_manifest; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_read_manifest_errors_name_the_file(tmp_path, ds):
    with pytest.raises(DataError, match="model directory not found"):
        read_manifest(tmp_path / "nope")
    assert read_manifest(tmp_path / "nope", missing_ok=True) == {}
    assert read_manifest(tmp_path, missing_ok=True) == {}
    with pytest.raises(DataError, match="manifest.json is missing"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"a": ')
    with pytest.raises(DataError, match=r"manifest.json:1: damaged JSON"):
        read_manifest(tmp_path, missing_ok=True)
    (tmp_path / "manifest.json").write_text("[1]")
    with pytest.raises(DataError, match=r"manifest.json: damaged JSON: expected an object"):
        read_manifest(tmp_path)


def test_model_key_is_the_artifact_fingerprint(tmp_path, ds):
    m = untrained(ds)
    key = model_key(m)
    assert key.startswith("unsaved:transformer_no_text@")
    assert model_key(untrained(ds)) != key  # never shared between unsaved objects
    d = m.save(tmp_path / "a", ds)
    fp = read_manifest(d)["model_fingerprint"]
    assert model_key(m) == fp and len(fp) == 64
    assert model_key(TransformerRecommender.load(d, ds)) == fp
    # the same weights and configuration give the same key; other weights another
    m.save(tmp_path / "b", ds)
    assert read_manifest(tmp_path / "b")["model_fingerprint"] == fp
    other = untrained(ds, seed=1)
    other.save(tmp_path / "c", ds)
    assert model_key(other) != fp


def test_model_key_of_a_scorer_with_a_plain_manifest():
    class Stub:
        name = "stub"
        manifest = {"created": "2026-01-01T00:00:00Z"}

    a, b = Stub(), Stub()
    assert model_key(a) == model_key(b) and len(model_key(a)) == 64
    b.manifest = {"created": "2026-01-02T00:00:00Z"}
    assert model_key(a) != model_key(b)


# ---- schema migration -------------------------------------------------------------------
def to_schema_1(d):
    """Rewrite a saved artifact's JSON to the shape schema 1 stored: version 1, no
    model_fingerprint, and a config.json from before text_rank, text_prior_count and
    lr_decay existed."""
    man = json.loads((d / "manifest.json").read_text())
    man["schema_version"] = 1
    del man["model_fingerprint"]
    (d / "manifest.json").write_text(json.dumps(man))
    cfg = json.loads((d / "config.json").read_text())
    for k in ("text_rank", "text_prior_count", "lr_decay"):
        del cfg["model"][k]
    (d / "config.json").write_text(json.dumps(cfg))


@pytest.fixture()
def old_artifact(tmp_path, ds):
    # what a schema-1 artifact of that time was: full text vector, no prior, constant rate
    te = item_embeddings(ds)
    cfg = TransformerConfig(**{**TINY, "use_text": True, "text_rank": 0, "text_prior_count": 0.0,
                               "lr_decay": "none"})
    m = TransformerRecommender(ds.item_ids, cfg, te, seed=0)
    d = m.save(tmp_path / "old", ds)
    abl = TransformerRecommender(ds.item_ids, TransformerConfig(**{**TINY, "lr_decay": "none"}), None, seed=0)
    abl.save(d / "no_text", ds)
    weights = {p: (p / "model.safetensors").read_bytes() for p in (d, d / "no_text")}
    to_schema_1(d)
    to_schema_1(d / "no_text")
    return d, m, weights


def test_an_old_artifact_is_refused_with_the_command_that_upgrades_it(old_artifact, ds):
    d, _, _ = old_artifact
    with pytest.raises(DataError, match=rf"schema version 1 is older .*python -m recsys migrate {d}.* or retrain"):
        TransformerRecommender.load(d, ds)


def test_migrate_command_upgrades_config_and_manifest_and_keeps_the_weights(old_artifact, ds, capsys):
    d, m, weights = old_artifact
    assert main(["migrate", str(d), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["model_dir"] == str(d) and r["schema_version"] == SCHEMA_VERSION
    main_art, abl_art = r["artifacts"]
    assert main_art == {"path": str(d), "from_version": 1, "to_version": SCHEMA_VERSION, "migrated": True,
                        "filled": {"text_rank": 0, "text_prior_count": 0.0, "lr_decay": "none"}}
    assert abl_art["path"] == str(d / "no_text") and abl_art["migrated"]
    for p, blob in weights.items():
        assert (p / "model.safetensors").read_bytes() == blob
    loaded = TransformerRecommender.load(d, ds)
    assert loaded.config == m.config and read_manifest(d)["schema_version"] == SCHEMA_VERSION
    assert model_key(loaded) == read_manifest(d)["model_fingerprint"]
    hist = [ds.sequence(u)[0] for u in range(3)]
    np.testing.assert_array_equal(loaded.score(hist), m.score(hist))
    assert TransformerRecommender.load(d / "no_text", ds).config.lr_decay == "none"
    # a second run changes nothing
    assert main(["migrate", str(d)]) == 0
    assert "already at schema" in capsys.readouterr().out


@pytest.mark.parametrize("damage, message", [
    ("nodir", "model directory not found"),
    ("json", "manifest.json:1: damaged JSON"),
    ("version", "cannot migrate schema version 99"),
    ("kind", "not a RecLens transformer artifact"),
    ("weights", "model.safetensors is missing"),
])
def test_migrate_bad_input_gives_one_error_line_and_exit_2(old_artifact, capsys, damage, message):
    d, _, _ = old_artifact
    if damage == "nodir":
        d = d / "nope"
    elif damage == "json":
        (d / "manifest.json").write_text('{"schema_version": ')
    elif damage in ("version", "kind"):
        man = json.loads((d / "manifest.json").read_text())
        man.update({"schema_version": 99} if damage == "version" else {"kind": "other"})
        (d / "manifest.json").write_text(json.dumps(man))
    else:
        (d / "model.safetensors").unlink()
    assert main(["migrate", str(d), "--json"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_migrate_in_a_subprocess(old_artifact):
    d, _, _ = old_artifact
    p = subprocess.run([sys.executable, "-m", "recsys", "migrate", str(d)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0]
    assert first.startswith(f"{d}: schema 1 -> {SCHEMA_VERSION} (configuration filled: ")
    assert 'lr_decay="none"' in first and "text_rank=0" in first and first.endswith("weights unchanged")
