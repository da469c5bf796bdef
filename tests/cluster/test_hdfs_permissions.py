"""HDFS warehouse permissions on the one-machine Hadoop (``dfs.permissions.enabled``, simple auth).

Root (the NameNode's process owner, so the HDFS superuser) creates a team's table with
``hdfs_group`` / ``hdfs_mode`` set. Real OS users created by the test then use it as
themselves: one outside the group may read it but not append or overwrite, and is told
who owns it; a member of the group may append. Permissions are read back with
WebHDFS ``LISTSTATUS`` directly, not through the platform's storage module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from os_users import created, run_as, shared_folder

from mlplatform import tables
from mlplatform.launch.minicluster import http_json

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TEAM = "mlp-t-team-a"
OUTSIDER, TEAMMATE = "mlp-t-outsider", "mlp-t-teammate"

_AS_USER = """
import json, sys
import pandas as pd
from mlplatform import tables
from mlplatform.errors import PlatformError
uri, action = sys.argv[1], sys.argv[2]
try:
    if action == "read":
        frame = tables.to_pandas(uri)
        print(json.dumps({"rows": frame.sort_values("id")["id"].tolist(), "version": tables.version(uri)}))
    else:
        version = tables.write_pandas(pd.DataFrame({"id": [99], "score": [0.5]}), uri, mode=action)
        print(json.dumps({"version": version}))
except PlatformError as exc:
    print(json.dumps({"error": exc.render(), "exit_code": exc.exit_code}))
"""

# Spark writes (tables.write) of one row each, as one session: argv = table, then the modes.
_SPARK_WRITES = """
import json, sys
from mlplatform import tables
from mlplatform.errors import PlatformError
from mlplatform.launch.session import session
spark = session(profile="local", conf={"spark.sql.shuffle.partitions": "1"})
out = []
for number, mode in enumerate(sys.argv[2:]):
    try:
        rows = spark.createDataFrame([(number, 0.5)], "id long, score double")
        out.append(tables.write(rows, sys.argv[1], mode=mode))
    except PlatformError as exc:
        out.append(exc.render())
spark.stop()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def team():
    if os.geteuid() != 0:
        pytest.skip("creating OS users needs root")
    with created({OUTSIDER: [], TEAMMATE: [TEAM]}, [TEAM]) as names:
        yield names


@pytest.fixture
def shared_home():
    """A platform home the test users may use."""
    with shared_folder("mlp-hdfs-perm-") as folder:
        yield folder / ".mlp"


def _listing(cluster, uri: str) -> dict[str, tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """``{name: (owner, group, permission)}`` of the folder and its entries, straight from WebHDFS."""
    path = urlsplit(uri).path
    base = f"{cluster.namenode_http}/webhdfs/v1{path}?user.name=root&op="
    root = http_json(base + "GETFILESTATUS")["FileStatus"]
    out = {".": (root["owner"], root["group"], root["permission"])}
    for entry in http_json(base + "LISTSTATUS")["FileStatuses"]["FileStatus"]:
        out[entry["pathSuffix"]] = (entry["owner"], entry["group"], entry["permission"])
    return out


def _env(cluster, home: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Settings of a team member: the cluster's WebHDFS, the team's group and mode (no MLP_HDFS_USER)."""
    return {
        "MLP_HOME": str(home),
        "MLP_WEBHDFS_URL": cluster.namenode_http,
        "MLP_HDFS_GROUP": TEAM,
        "MLP_HDFS_MODE": "775",
        "MLP_CODE_VERSION": "test",
    }


def _as(user: str, uri: str, action: str, env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    done = run_as(user, sys.executable, "-c", _AS_USER, uri, action, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_team_table_is_readable_by_others_writable_by_its_group_and_refusals_name_the_owner(
    cluster, team, shared_home, monkeypatch
):
    uri = cluster.uri(f"/mlp/warehouse/{TEAM}/scores")
    env = _env(cluster, shared_home)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLP_HDFS_USER", raising=False)
    written = pd.DataFrame({"id": [1, 2, 3], "score": [0.1, 0.2, 0.3]})
    assert tables.write_pandas(written, uri) == 0  # as root: the table's owner

    listing = _listing(cluster, uri)
    assert listing["."] == ("root", TEAM, "775")
    assert listing["_delta_log"] == ("root", TEAM, "775")
    data_files = [name for name in listing if name.endswith(".parquet")]
    assert data_files and all(listing[name] == ("root", TEAM, "664") for name in data_files)
    assert {entry[:3] for entry in _listing(cluster, f"{uri}/_delta_log").values()} == {
        ("root", TEAM, "775"),
        ("root", TEAM, "664"),
    }

    assert _as(OUTSIDER, uri, "read", env) == {"rows": [1, 2, 3], "version": 0}
    for action in ("append", "overwrite"):
        refused = _as(OUTSIDER, uri, action, env)
        message = refused.get("error", "")
        assert "\n" not in message and refused["exit_code"] == 1, refused
        assert f"table {uri}: {action} write refused for user {OUTSIDER}" in message, message
        assert f"owner root, group {TEAM}, mode 775" in message and f"add you to group {TEAM}" in message, message
    # without WebHDFS the owner, group and mode come from HDFS's own refusal
    no_webhdfs = _as(OUTSIDER, uri, "append", {**env, "MLP_WEBHDFS_URL": ""})
    assert f"owner root, group {TEAM}, mode 775" in no_webhdfs.get("error", ""), no_webhdfs
    assert tables.version(uri) == 0
    pd.testing.assert_frame_equal(tables.to_pandas(uri).sort_values("id").reset_index(drop=True), written)

    assert _as(TEAMMATE, uri, "append", env) == {"version": 1}
    newest = tables.history(uri, limit=1)[0]
    assert newest.version == 1 and newest.metadata["user"] == TEAMMATE
    assert sorted(tables.to_pandas(uri)["id"]) == [1, 2, 3, 99]

    # a group its creator is not in: HDFS refuses to give it; the error says the table exists and how to finish
    elsewhere = cluster.uri(f"/tmp/{TEAMMATE}-scores")
    ungrouped = _as(TEAMMATE, elsewhere, "append", {**env, "MLP_HDFS_GROUP": "mlp-t-not-a-member"})
    message = ungrouped.get("error", "")
    assert "\n" not in message and f"table {elsewhere} was created (version 0) but could not be given" in message
    assert "mlp-t-not-a-member" in message and "hdfs dfs -chgrp -R" in message, message


def test_spark_writes_a_team_table_with_the_mode_and_refuses_an_outsider_in_one_line(cluster, team, shared_home):
    uri = cluster.uri(f"/mlp/warehouse/{TEAM}/spark-scores")
    env = _env(cluster, shared_home / "root")
    # as root: create (then given group and mode), then append (files made with the umask of hdfs_mode)
    done = subprocess.run(
        [sys.executable, "-c", _SPARK_WRITES, uri, "append", "append"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**{k: v for k, v in os.environ.items() if k != "MLP_HDFS_USER"}, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, 1]
    listing = _listing(cluster, uri)
    assert listing["."] == listing["_delta_log"] == ("root", TEAM, "775")
    data_files = sorted(name for name in listing if name.endswith(".parquet"))
    assert len(data_files) >= 2 and all(listing[name] == ("root", TEAM, "664") for name in data_files)

    own_home = shared_home / "outsider"
    own_home.mkdir()
    own_home.chmod(0o777)
    refused = run_as(
        OUTSIDER, sys.executable, "-c", _SPARK_WRITES, uri, "overwrite", env={**env, "MLP_HOME": str(own_home)}
    )
    assert refused.returncode == 0, refused.stderr[-3000:]
    (message,) = json.loads(refused.stdout.strip().splitlines()[-1])
    assert "\n" not in message and f"table {uri}: overwrite write refused for user {OUTSIDER}" in message
    assert f"owner root, group {TEAM}, mode 775" in message, message
    assert tables.version(uri) == 1 and sorted(tables.to_pandas(uri)["id"]) == [0, 1]
