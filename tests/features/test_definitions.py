"""Definitions and specs: the checked-in files parse; typos and bad values are errors naming file and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mlplatform.errors import FeatureError
from mlplatform.features.definitions import (
    FeatureRef,
    format_duration,
    load_feature_set,
    load_feature_sets,
    load_trainset_spec,
    parse_duration,
    resolve_function,
)


def test_checked_in_definitions_and_spec_load():
    sets = {d.name: d for d in load_feature_sets()}
    assert set(sets) == {"customer_profile", "account_activity", "activity_rollups", "support_contacts"}
    assert sets["support_contacts"].created_timestamp == "known_at"
    assert sets["account_activity"].ttl_delta == timedelta(days=30)
    assert sets["customer_profile"].ttl_delta is None
    for d in sets.values():
        if d.source.transform:
            assert callable(resolve_function(d.source.transform, d.name))
    spec = load_trainset_spec("churn")
    assert spec.feature_sets() == ["customer_profile", "account_activity", "activity_rollups", "support_contacts"]
    assert spec.labels.label == ["churned"]


def test_durations_round_trip():
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("none") is None
    assert format_duration(timedelta(hours=36)) == "36h"
    with pytest.raises(ValueError, match="'30 days' is not a duration"):
        parse_duration("30 days")


def test_feature_refs():
    assert FeatureRef.parse("a:b as c") == FeatureRef(feature_set="a", feature="b", alias="c")
    assert str(FeatureRef.parse(" a : * ")) == "a:*"
    for bad in ("a.b", "a:*  as c", ":b"):
        with pytest.raises(ValueError):
            FeatureRef.parse(bad)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


GOOD = """
name: demo
description: d
owner: o
entities: [{name: k, type: int64}]
event_timestamp: t
ttl: 7d
source: {table: raw/x}
features: [{name: v, type: float64}]
"""


def test_typo_in_a_key_names_file_and_key(tmp_path):
    path = _write(tmp_path, "demo", GOOD.replace("owner: o", "ownr: o"))
    with pytest.raises(FeatureError, match=r"demo.yaml: missing key 'owner'; unknown key 'ownr'"):
        load_feature_set(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (("ttl: 7d", "ttl: 7 days"), "is not a duration"),
        (("type: float64", "type: decimal"), "unknown type 'decimal'"),
        (("source: {table: raw/x}", "source: {tables: {a: raw/x}}"), "'tables' needs a 'transform'"),
        (("features: [{name: v, type: float64}]", "features: [{name: k, type: float64}]"), "declared twice: k"),
    ],
)
def test_bad_values(tmp_path, change, message):
    path = _write(tmp_path, "demo", GOOD.replace(*change))
    with pytest.raises(FeatureError, match=message):
        load_feature_set(path)


def test_file_name_must_match_and_unknown_transform(tmp_path):
    with pytest.raises(FeatureError, match="rename the file to demo.yaml"):
        load_feature_set(_write(tmp_path, "other", GOOD))
    with pytest.raises(FeatureError, match="module 'mlplatform.features.churn' has no function 'nope'"):
        resolve_function("mlplatform.features.churn:nope", "feature set 'demo'")


def test_unknown_trainset_spec_lists_known():
    with pytest.raises(FeatureError, match=r"training-set spec 'nope' not found .* specs in conf/trainsets/: .*churn"):
        load_trainset_spec("nope")
