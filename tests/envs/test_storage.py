"""storage: local paths and file:// URIs (hdfs:// is exercised on the minicluster by the Hadoop tests)."""

from __future__ import annotations

import pytest

from mlplatform import storage
from mlplatform.errors import StorageError


def test_put_get_list_open_delete_round_trip(tmp_path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"payload")
    uri = f"file://{tmp_path}/store/deep/a.bin"
    storage.put(source, uri)
    assert storage.exists(uri)
    assert storage.listdir(f"{tmp_path}/store/deep") == ["a.bin"]
    with storage.open_read(uri) as fh:
        assert fh.read() == b"payload"
    copy = storage.get(str(tmp_path / "store" / "deep" / "a.bin"), tmp_path / "out" / "b.bin")
    assert copy.read_bytes() == b"payload"
    assert storage.delete(f"{tmp_path}/store", recursive=True)
    assert not storage.exists(uri)
    assert storage.delete(uri) is False
    assert storage.listdir(f"{tmp_path}/store") == []


def test_put_replaces_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "t" / "f.txt"
    for text in ("one", "two"):
        (tmp_path / "src").write_text(text)
        storage.put(tmp_path / "src", str(target))
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_join_and_local_path():
    assert storage.join("hdfs://nn:9000/a/", "envs", "/x/") == "hdfs://nn:9000/a/envs/x"
    assert storage.local_path("file:///tmp/x") == "/tmp/x"
    assert storage.is_local("/tmp/x") and not storage.is_local("hdfs://nn/x")


def test_unknown_scheme_lists_known_ones():
    with pytest.raises(StorageError, match="unknown scheme 's3'") as err:
        storage.exists("s3://bucket/x")
    assert "file, hdfs" in (err.value.hint or "")


def test_hdfs_without_webhdfs_url_is_a_clear_error(settings):
    with pytest.raises(StorageError, match="webhdfs_url is not set"):
        storage.exists("hdfs://localhost:9000/x", settings)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(StorageError, match="cannot download"):
        storage.get(str(tmp_path / "nope"), tmp_path / "x")
    with pytest.raises(StorageError, match="cannot read"):
        with storage.open_read(str(tmp_path / "nope")):
            pass
    with pytest.raises(StorageError, match="is not a file"):
        storage.put(tmp_path / "nope", str(tmp_path / "y"))
