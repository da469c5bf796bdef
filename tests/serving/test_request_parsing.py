"""The server's request parsing and signature checks, in process (no HTTP)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest

from mlplatform.scoring.server import ColumnSpec, RequestError, parse_request

COLUMNS = (
    ColumnSpec("amount", "double"),
    ColumnSpec("visits", "long"),
    ColumnSpec("city", "string"),
    ColumnSpec("member", "boolean"),
)
EXPECTED = pd.DataFrame(
    {"amount": [1.5, 200.0], "visits": np.array([3, 4], dtype="int64"), "city": ["nice", None], "member": [True, False]}
)


def parse(payload, content_type: str = "application/json", columns=COLUMNS) -> pd.DataFrame:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_request(body, content_type, columns)


def refused(payload, content_type: str = "application/json", columns=COLUMNS) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse(payload, content_type, columns)
    return info.value


def check(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame, EXPECTED.astype({"city": object}))


@pytest.mark.parametrize(
    "payload",
    [
        {
            "dataframe_split": {
                "columns": ["amount", "visits", "city", "member"],
                "data": [[1.5, 3, "nice", True], [200, 4, None, False]],
            }
        },
        {
            "dataframe_split": {
                "index": [7, 8],
                "columns": ["member", "city", "visits", "amount"],
                "data": [[True, "nice", 3, 1.5], [False, None, 4, 200]],
            }
        },
        {
            "dataframe_records": [
                {"amount": 1.5, "visits": 3, "city": "nice", "member": True},
                {"amount": 200, "visits": 4, "member": False},
            ]
        },
        {
            "instances": [
                {"amount": 1.5, "visits": 3, "city": "nice", "member": True},
                {"amount": 200, "visits": 4, "city": None, "member": False},
            ]
        },
        {"inputs": {"amount": [1.5, 200], "visits": [3, 4], "city": ["nice", None], "member": [True, False]}},
        {
            "inputs": [
                {"amount": 1.5, "visits": 3, "city": "nice", "member": True},
                {"amount": 200, "visits": 4, "member": False},
            ],
            "params": {},
        },
    ],
    ids=["split", "split-reordered", "records", "instances", "inputs-columns", "inputs-records"],
)
def test_every_json_format_gives_the_same_typed_frame(payload):
    check(parse(payload))


def test_csv_gives_the_same_typed_frame():
    check(parse(b"member,amount,visits,city\ntrue,1.5,3,nice\nfalse,200,4,\n", "text/csv; charset=utf-8"))


def test_extra_columns_are_dropped_and_the_order_follows_the_signature():
    frame = parse(
        {
            "inputs": {
                "zzz": [1, 2],
                "member": [True, False],
                "amount": [1.5, 200],
                "visits": [3, 4],
                "city": ["nice", None],
            }
        }
    )
    check(frame)


def test_integral_floats_are_accepted_for_long_columns():
    frame = parse({"inputs": {"amount": [1.5], "visits": [3.0], "city": ["x"], "member": [True]}})
    assert frame["visits"].dtype == np.int64 and frame["visits"].iloc[0] == 3


def test_null_in_a_double_column_is_nan():
    frame = parse({"inputs": {"amount": [None], "visits": [3], "city": ["x"], "member": [True]}})
    assert np.isnan(frame["amount"].iloc[0])


def test_integer_columns_are_range_checked():
    columns = (ColumnSpec("i", "integer"),)
    with pytest.raises(RequestError, match="value 2147483648 at row 1 is out of range for integer"):
        parse({"inputs": {"i": [1, 2**31]}}, columns=columns)
    assert parse({"inputs": {"i": [-(2**31), 2**31 - 1]}}, columns=columns)["i"].tolist() == [-(2**31), 2**31 - 1]


def test_other_signature_types():
    columns = (
        ColumnSpec("f", "float"),
        ColumnSpec("i", "integer"),
        ColumnSpec("t", "datetime"),
        ColumnSpec("b", "binary"),
        ColumnSpec("o", "double", required=False),
    )
    frame = parse(
        {"inputs": {"f": [0.5], "i": [7], "t": ["2024-05-01T10:00:00"], "b": [base64.b64encode(b"\x00\x01").decode()]}},
        columns=columns,
    )
    assert frame["f"].dtype == np.float32 and frame["i"].dtype == np.int32
    assert frame["t"].iloc[0] == pd.Timestamp("2024-05-01 10:00:00") and frame["b"].iloc[0] == b"\x00\x01"
    assert list(frame.columns) == ["f", "i", "t", "b", "o"] and np.isnan(frame["o"].iloc[0])


@pytest.mark.parametrize(
    "payload, words",
    [
        (
            {"inputs": {"amount": ["a"], "visits": [3], "city": ["x"], "member": [True]}},
            ["'amount'", "double", 'string "a"', "row 0"],
        ),
        ({"inputs": {"amount": [True], "visits": [3], "city": ["x"], "member": [True]}}, ["'amount'", "boolean true"]),
        (
            {"inputs": {"amount": [1.0], "visits": [3.5], "city": ["x"], "member": [True]}},
            ["'visits'", "long", "number 3.5"],
        ),
        (
            {"inputs": {"amount": [1.0], "visits": [None], "city": ["x"], "member": [True]}},
            ["'visits'", "missing value", "cannot hold nulls"],
        ),
        (
            {"inputs": {"amount": [1.0], "visits": [2**70], "city": ["x"], "member": [True]}},
            ["'visits'", "out of range"],
        ),
        (
            {"inputs": {"amount": [1.0], "visits": [1], "city": [5], "member": [True]}},
            ["'city'", "string", "integer 5"],
        ),
        (
            {"inputs": {"amount": [1.0, 2**2000], "visits": [1, 1], "city": ["x", "y"], "member": [True, True]}},
            ["'amount'", "row 1", "out of range for double"],
        ),
        (
            {"inputs": {"amount": [1.0], "visits": [1e20], "city": ["x"], "member": [True]}},
            ["'visits'", "out of range for long"],
        ),
        (
            {"inputs": {"amount": [1.0], "visits": [float("inf")], "city": ["x"], "member": [True]}},
            ["'visits'", "long", "Infinity"],
        ),
        ({"inputs": {"amount": [1.0], "visits": [1], "city": ["x"], "member": ["yes"]}}, ["'member'", "boolean"]),
        ({"inputs": {"amount": [[1.0]], "visits": [1], "city": ["x"], "member": [True]}}, ["'amount'", "an array"]),
        ({"inputs": {"amount": [1.0, 2.0], "visits": [1], "city": ["x"], "member": [True]}}, ["different lengths"]),
        (
            {"inputs": {"amount": [1.0], "city": ["x"]}},
            ["missing required column(s): visits, member", "amount (double)"],
        ),
        ({"dataframe_split": {"columns": ["amount"], "data": [[1.0, 2.0]]}}, ["row 0", "1 values"]),
        ({"dataframe_split": {"data": [[1.0]]}}, ["columns"]),
        ({"dataframe_split": [[1.0]]}, ["dataframe_split", "object"]),
        ({"dataframe_records": {"amount": 1}}, ["list of objects"]),
        ({"dataframe_records": [1, 2]}, ["row 0", "integer 1"]),
        ({"inputs": [[1.5, 3, "x", True]]}, ["column names"]),
        ({"inputs": {}, "instances": {}}, ["exactly one of"]),
        ({"columns": ["amount"], "data": [[1.0]]}, ["exactly one of"]),
        ([1, 2], ["must be an object"]),
    ],
)
def test_bad_json_input_is_refused_with_a_reason(payload, words):
    err = refused(payload)
    assert err.status == 400
    for word in words:
        assert word in err.message, err.message


@pytest.mark.parametrize(
    "body, content_type, status, words",
    [
        (b'{"inputs": ', "application/json", 400, ["not valid JSON"]),
        (b"\xff\xfe\x00garbage", "application/json", 400, ["not UTF-8"]),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, ["nested too deeply"]),
        (b"{}", "application/xml", 415, ["application/xml", "application/json", "text/csv"]),
        (b"{}", "", 415, ["not supported"]),
        (b"{}", "application/json; charset=latin-1", 415, ["latin-1"]),
        (b"{}", "application/json; format=pandas-split", 415, ["format"]),
        (b"amount,visits,city,member\nabc,1,x,true\n", "text/csv", 400, ["'amount'", "'abc'", "row 0"]),
        (b"amount,visits,city,member\n1.0,,x,true\n", "text/csv", 400, ["'visits'", "missing value"]),
        (b"amount,visits,city,member\n1.0,2,x,maybe\n", "text/csv", 400, ["'member'", "'maybe'"]),
        (b"amount,city\n1.0,x\n", "text/csv", 400, ["missing required column(s): visits, member"]),
        (b"", "text/csv", 400, ["CSV"]),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body, content_type, status, words):
    err = refused(body, content_type)
    assert err.status == status
    for word in words:
        assert word in err.message, err.message


def test_without_a_signature_the_frame_is_taken_as_sent():
    frame = parse({"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"]]}}, columns=None)
    assert list(frame.columns) == ["a", "b"] and frame["b"].iloc[0] == "x"
