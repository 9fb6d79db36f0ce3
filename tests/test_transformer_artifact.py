"""The transformer artifact: manifest reader, model key, schema migration."""

from __future__ import annotations

import subprocess
import sys

import pytest

from recsys.data.types import DataError
from recsys.models.base import model_key
from recsys.models.transformer import TransformerConfig, TransformerRecommender
from recsys.models.transformer.artifact import read_manifest
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
