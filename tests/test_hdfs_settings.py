"""The ``hdfs_group`` / ``hdfs_mode`` settings: strict values, and what Spark and local files make of them.

Their effect on HDFS is tested on the one-machine Hadoop (tests/cluster/test_hdfs_permissions.py).
"""

from __future__ import annotations

import os
import stat

import pytest

from mlplatform import storage
from mlplatform.config import load_settings
from mlplatform.errors import ConfigError
from mlplatform.launch.profiles import base_conf


@pytest.mark.parametrize("value", ["8x7", "7750", "rwxrwxr-x", ""])
def test_a_mode_that_is_not_three_octal_digits_is_one_line(value, monkeypatch):
    monkeypatch.setenv("MLP_HDFS_MODE", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = caught.value.render()
    assert "'hdfs_mode'" in text and f"{value!r} is not a 3-digit octal mode" in text and "\n" not in text


def test_an_unquoted_yaml_mode_is_refused_with_how_to_quote_it(tmp_path):
    conf = tmp_path / "platform.yaml"
    conf.write_text("hdfs_mode: 0775\nhdfs_group: team-a\n")
    with pytest.raises(ConfigError, match=r"509 is not a 3-digit octal mode .* hdfs_mode: '775'"):
        load_settings(conf)


def test_any_group_name_is_accepted_hdfs_decides(monkeypatch):
    monkeypatch.setenv("MLP_HDFS_GROUP", "no-such-group-here")
    monkeypatch.setenv("MLP_HDFS_MODE", "0750")
    settings = load_settings()
    assert (settings.hdfs_group, settings.hdfs_mode) == ("no-such-group-here", "0750")


@pytest.mark.parametrize("mode", ["775", "750", "700", "0755"])
def test_spark_creates_with_the_umask_that_gives_the_mode(mode, monkeypatch):
    monkeypatch.setenv("MLP_HDFS_MODE", mode)
    umask = int(base_conf(load_settings(), "local")["spark.hadoop.fs.permissions.umask-mode"], 8)
    # Hadoop creates folders 777 and files 666 minus the umask, like POSIX
    assert 0o777 & ~umask == int(mode, 8)
    assert 0o666 & ~umask == storage.file_mode(int(mode, 8))


def test_without_a_mode_spark_keeps_the_cluster_umask(settings):
    assert "spark.hadoop.fs.permissions.umask-mode" not in base_conf(settings, "local")


def test_local_files_keep_the_operating_system_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_HDFS_GROUP", "no-such-group-here")
    monkeypatch.setenv("MLP_HDFS_MODE", "700")
    target = tmp_path / "table"
    target.mkdir()
    target.chmod(0o755)
    storage.share(str(target))
    entry = storage.stat(str(target))
    assert entry is not None and entry.is_dir
    assert entry.mode == stat.S_IMODE(os.stat(target).st_mode) == 0o755
