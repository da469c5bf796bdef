from __future__ import annotations

from pathlib import Path

import pytest

from mlplatform.config import load_settings
from mlplatform.errors import ConfigError


def test_embedded_default_puts_everything_under_home(mlp_home: Path):
    s = load_settings()
    assert s.home == str(mlp_home)
    assert s.warehouse == str(mlp_home / "warehouse")
    assert s.artifacts == str(mlp_home / "artifacts")
    assert s.mlflow_tracking_uri == f"sqlite:///{mlp_home}/mlflow.db"
    assert s.spark_profile == "local"


def test_config_file_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    conf = tmp_path / "p.yaml"
    conf.write_text("warehouse: hdfs://nn:9000/wh\nspark_profile: yarn\n")
    s = load_settings(conf)
    assert (s.warehouse, s.spark_profile) == ("hdfs://nn:9000/wh", "yarn")
    monkeypatch.setenv("MLP_SPARK_PROFILE", "local-cluster")
    assert load_settings(conf).spark_profile == "local-cluster"


def test_relative_paths_resolve_against_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLP_HOME")
    monkeypatch.setenv("MLP_PROJECT", str(tmp_path))
    conf = tmp_path / "p.yaml"
    conf.write_text("home: data/mlp\n")
    assert load_settings(conf).home == str(tmp_path / "data" / "mlp")


def test_unknown_key_names_key_and_file(tmp_path: Path):
    conf = tmp_path / "platform.yaml"
    conf.write_text("warehous: /tmp/x\n")
    with pytest.raises(ConfigError) as err:
        load_settings(conf)
    assert "unknown key 'warehous'" in str(err.value)
    assert str(conf) in str(err.value)
    assert "warehouse" in str(err.value)


def test_wrong_type_names_key(tmp_path: Path):
    conf = tmp_path / "platform.yaml"
    conf.write_text("spark_profile: [a, b]\n")
    with pytest.raises(ConfigError, match="'spark_profile': "):
        load_settings(conf)


def test_not_a_mapping_and_bad_yaml(tmp_path: Path):
    conf = tmp_path / "platform.yaml"
    conf.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(conf)
    conf.write_text("a: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(conf)


def test_missing_explicit_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
