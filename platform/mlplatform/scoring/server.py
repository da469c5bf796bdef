"""Online scoring: a plain WSGI application serving one model.

This module runs inside the image built from the *model's* environment, copied
into the build context as a single file. It imports only the standard library,
numpy, pandas and cloudpickle (plus whatever the pickled model imports) — never
Flask, MLflow, click or the platform's configuration. Its two helpers, ``server_metrics`` and
``inference_spool``, are copied beside it as ``mlp_server_metrics.py`` and
``mlp_inference_spool.py``.

Endpoints (MLflow's scoring protocol):

- ``POST /invocations``: ``application/json`` with exactly one of
  ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs`` (and an
  optional ``params``), or ``text/csv`` with a header row. Answers
  ``{"predictions": [...]}``.
- ``GET /ping``, ``GET /health``: 200 once the model is loaded.
- ``GET /version``: model name, version and environment id.
- ``GET /metrics``: Prometheus text format, summed over the gunicorn workers
  (``server_metrics``: requests by endpoint and status, latency and prediction histograms,
  rows scored, inference log writes and errors; every series labelled with the model name
  and version).

``MLP_LOG_SAMPLE`` (a fraction 0..1) turns on the inference log: that share of scored
requests, inputs and predictions, is appended to a local spool (``inference_spool``) for
``mlp monitor ingest``. A request's id is its ``X-Request-Id`` header, or a fresh one; the
answer carries it back.

Inputs are checked against the column signature the exporter copied from
``MLmodel`` into ``serving.json``. Every bad request gets a 4xx JSON answer
``{"error_code": ..., "message": ...}`` saying what was wrong; the process keeps
serving. A model that answers the bare float matrix as it answers named columns (tried
once at load) is handed the matrix, without pandas' and scikit-learn's frame checks.

Run it with gunicorn, exactly as the image does::

    MLP_PORT=8080 python -m gunicorn --config gunicorn.conf.py 'mlp_scoring_server:create_app()'
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import os
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

if __package__:  # mlplatform.scoring.server
    from . import inference_spool, server_metrics
else:  # the image's top-level mlp_scoring_server, its helpers beside it
    import mlp_inference_spool as inference_spool  # type: ignore[no-redef]
    import mlp_server_metrics as server_metrics  # type: ignore[no-redef]

__all__ = [
    "CONFIG_FILE",
    "ColumnSpec",
    "ServingConfig",
    "RequestError",
    "ScoringApp",
    "parse_request",
    "create_app",
]

log = logging.getLogger("mlp.scoring.server")

# A model fitted on named columns warns on every call that gets the bare matrix (see ``_accepts_matrix``).
warnings.filterwarnings("ignore", message="X does not have valid feature names")

CONFIG_FILE = "serving.json"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# A body over the limit is read and thrown away, never kept, when it is at most this many
# times the limit: a server that answers 413 and closes while the client is still sending
# makes the client see a broken pipe or a reset instead of the answer. Longer bodies are
# refused at once, their sender left to see the connection close.
DRAIN_FACTOR = 4
DRAIN_CHUNK = 64 * 1024
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ENDPOINTS = ("/invocations", "/ping", "/health", "/version", "/metrics")

_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_FLOAT_DTYPE = {"float": np.float32, "double": np.float64}
_INT_DTYPE = {"integer": np.int32, "long": np.int64}
_MISSING = object()


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of the model signature."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class ServingConfig:
    """What the exporter wrote to ``serving.json`` next to the model."""

    model_name: str
    model_version: int
    env_id: str | None
    model_path: Path
    predict_fn: str
    columns: tuple[ColumnSpec, ...] | None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def load(cls, directory: str | os.PathLike[str], max_body_bytes: int | None = None) -> "ServingConfig":
        """Read ``serving.json`` in ``directory``; the model path is relative to it."""
        directory = Path(directory)
        raw = json.loads((directory / CONFIG_FILE).read_text())
        inputs = raw.get("inputs")
        columns = None
        if inputs is not None:
            columns = tuple(ColumnSpec(c["name"], c["type"], bool(c.get("required", True))) for c in inputs)
        return cls(
            model_name=raw["model_name"],
            model_version=int(raw["model_version"]),
            env_id=raw.get("env_id"),
            model_path=directory / raw["model_dir"] / raw["model_file"],
            predict_fn=raw.get("predict_fn", "predict"),
            columns=columns,
            max_body_bytes=max_body_bytes or int(raw.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
        )

    def version_info(self) -> dict[str, Any]:
        """The body of ``GET /version``."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_id": f"model:{self.model_name}@{self.model_version}",
            "env_id": self.env_id,
            "python": ".".join(str(p) for p in sys.version_info[:3]),
        }


class RequestError(Exception):
    """A request the server refuses; rendered as a JSON error with an HTTP status."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code


# --------------------------------------------------------------------------- parsing


def _describe(value: Any) -> str:
    """A short rendering of a JSON value for error messages."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    text = json.dumps(value, default=repr)
    kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value), type(value).__name__)
    return f"{kind} {text[:37] + '...' if len(text) > 40 else text}"


def _type_error(col: ColumnSpec, row: int, value: Any) -> RequestError:
    return RequestError(
        f"column '{col.name}' expects {col.type} values, got {_describe(value)} at row {row}",
        error_code="INVALID_PARAMETER_VALUE",
    )


_NONE = type(None)
_FLOAT_OK = frozenset({int, float, _NONE})
_STR_OK = frozenset({str, _NONE})


def _require(col: ColumnSpec, values: list[Any], allowed: frozenset[type]) -> set[type]:
    """The value types of a column; RequestError naming the first value of another type."""
    found = set(map(type, values))
    if not found <= allowed:
        bad = next(i for i, v in enumerate(values) if type(v) not in allowed)
        raise _type_error(col, bad, values[bad])
    return found


def _out_of_range(col: ColumnSpec, values: list[Any], fits: Callable[[Any], bool]) -> RequestError:
    bad = next(i for i, v in enumerate(values) if not fits(v))
    return RequestError(
        f"column '{col.name}' value {values[bad]} at row {bad} is out of range for {col.type}",
        error_code="INVALID_PARAMETER_VALUE",
    )


def _column_from_json(col: ColumnSpec, values: list[Any]) -> Any:
    """Typed array for one column of JSON values, or RequestError naming the bad cell."""
    t = col.type
    if t in _FLOAT_DTYPE:
        if _NONE in _require(col, values, _FLOAT_OK):
            values = [math.nan if v is None else v for v in values]
        try:
            return np.array(values, dtype=_FLOAT_DTYPE[t])
        except OverflowError:
            raise _out_of_range(col, values, lambda v: type(v) is not int or abs(v) < 2**1024) from None
    if t in _INT_DTYPE:
        return _integers(col, values)
    if t == "boolean":
        _require(col, values, frozenset({bool}))
        return np.array(values, dtype=bool)
    if t == "string":
        _require(col, values, _STR_OK)
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    if t == "datetime":
        _require(col, values, _STR_OK)
        return _datetimes(col, pd.Series(values, dtype=object))
    if t == "binary":
        return _binaries(col, values)
    raise RequestError(
        f"column '{col.name}' has type {t}, which this server cannot read", status=500, error_code="INTERNAL_ERROR"
    )


def _integers(col: ColumnSpec, values: list[Any]) -> Any:
    low, high = _INT_RANGE[col.type]
    found = set(map(type, values))
    if _NONE in found:
        row = values.index(None)
        raise RequestError(
            f"column '{col.name}' ({col.type}) has a missing value at row {row}; integer columns cannot hold nulls",
            error_code="INVALID_PARAMETER_VALUE",
        )
    if float in found:  # JSON writers may send 3.0 for 3
        _require(col, values, frozenset({int, float}))
        bad = next(
            (i for i, v in enumerate(values) if type(v) is float and not (v.is_integer() and low <= v <= high)), None
        )
        if bad is not None:
            if values[bad].is_integer():
                raise _out_of_range(col, values, lambda v: low <= v <= high)
            raise _type_error(col, bad, values[bad])
    else:
        _require(col, values, frozenset({int}))
    try:
        out = np.array(values, dtype=np.int64)
    except OverflowError:
        raise _out_of_range(col, values, lambda v: low <= v <= high) from None
    if col.type == "integer" and len(out) and (out.min() < low or out.max() > high):
        raise _out_of_range(col, values, lambda v: low <= v <= high)
    return out.astype(_INT_DTYPE[col.type], copy=False)


def _datetimes(col: ColumnSpec, values: pd.Series) -> Any:
    try:
        return pd.to_datetime(values, errors="raise").to_numpy()
    except (ValueError, TypeError, OverflowError) as exc:
        raise RequestError(
            f"column '{col.name}' expects ISO-8601 datetimes: {exc}", error_code="INVALID_PARAMETER_VALUE"
        ) from None


def _binaries(col: ColumnSpec, values: Iterable[Any]) -> Any:
    decoded = []
    for i, v in enumerate(values):
        if v is None:
            decoded.append(None)
            continue
        if type(v) is not str:
            raise _type_error(col, i, v)
        try:
            decoded.append(base64.b64decode(v, validate=True))
        except (binascii.Error, ValueError):
            raise RequestError(
                f"column '{col.name}' expects base64 strings, row {i} is not base64",
                error_code="INVALID_PARAMETER_VALUE",
            ) from None
    out = np.empty(len(decoded), dtype=object)
    out[:] = decoded
    return out


def _column_from_text(col: ColumnSpec, values: pd.Series) -> Any:
    """Typed array for one CSV column read as strings (empty cells are NaN)."""
    t = col.type
    missing = values.isna()
    if t == "string":
        return values.where(~missing, None).to_numpy(dtype=object)
    if t == "binary":
        return _binaries(col, values.where(~missing, None))
    if t == "datetime":
        return _datetimes(col, values)
    if t == "boolean":
        lowered = values.str.strip().str.lower()
        ok = lowered.isin(["true", "false", "1", "0"])
        if not ok.all():
            row = int(np.argmin(ok.to_numpy()))
            raise RequestError(
                f"column '{col.name}' expects boolean values (true/false), got '{values.iloc[row]}' at row {row}",
                error_code="INVALID_PARAMETER_VALUE",
            )
        return lowered.isin(["true", "1"]).to_numpy()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & ~missing
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise RequestError(
            f"column '{col.name}' expects {t} values, got '{values.iloc[row]}' at row {row}",
            error_code="INVALID_PARAMETER_VALUE",
        )
    if t in _FLOAT_DTYPE:
        return numbers.to_numpy(dtype=_FLOAT_DTYPE[t])
    if missing.any():
        row = int(np.argmax(missing.to_numpy()))
        raise RequestError(
            f"column '{col.name}' ({t}) has a missing value at row {row}; integer columns cannot hold nulls",
            error_code="INVALID_PARAMETER_VALUE",
        )
    as_float = numbers.to_numpy(dtype=np.float64)
    low, high = _INT_RANGE[t]
    fractional = (as_float != np.floor(as_float)) | (as_float < low) | (as_float > high)
    if fractional.any():
        row = int(np.argmax(fractional))
        raise RequestError(
            f"column '{col.name}' expects {t} values, got '{values.iloc[row]}' at row {row}",
            error_code="INVALID_PARAMETER_VALUE",
        )
    return numbers.to_numpy().astype(_INT_DTYPE[t])


def _frame(columns: tuple[ColumnSpec, ...], data: dict[str, Any], n_rows: int, from_text: bool = False) -> pd.DataFrame:
    """Check names against the signature and build the typed frame in signature order.

    Columns not in the signature are dropped (as MLflow does); optional columns that
    are absent are passed as nulls.
    """
    missing = [c.name for c in columns if c.required and c.name not in data]
    if missing:
        expected = ", ".join(f"{c.name} ({c.type})" for c in columns)
        raise RequestError(
            f"missing required column(s): {', '.join(missing)}; the model expects {expected}",
            error_code="INVALID_PARAMETER_VALUE",
        )
    out: dict[str, Any] = {}
    for col in columns:
        values = data.get(col.name, _MISSING)
        if values is _MISSING:
            values = pd.Series([None] * n_rows, dtype=object) if from_text else [None] * n_rows
        out[col.name] = _column_from_text(col, values) if from_text else _column_from_json(col, values)
    arrays = list(out.values())
    if len(arrays) > 1 and len({a.dtype for a in arrays}) == 1 and arrays[0].dtype != object:
        # one dtype (e.g. all double): a single 2-D block is built (and read by sklearn) faster
        return pd.DataFrame(np.column_stack(arrays), columns=list(out), copy=False)
    return pd.DataFrame(out, copy=False)


def _columns_of_records(records: Any, key: str) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(records, list):
        raise RequestError(f"'{key}' must be a list of objects (one per row), got {_describe(records)}")
    names: dict[str, None] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise RequestError(f"'{key}' must be a list of objects (one per row); row {i} is {_describe(rec)}")
        names.update(dict.fromkeys(rec))
    return {name: [rec.get(name) for rec in records] for name in names}, len(records)


def _columns_of_split(split: Any) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(split, dict):
        raise RequestError(f"'dataframe_split' must be an object with 'columns' and 'data', got {_describe(split)}")
    extra = set(split) - {"columns", "data", "index"}
    if "data" not in split or extra:
        raise RequestError(
            f"'dataframe_split' must have 'data' and optionally 'columns' and 'index'; got keys {sorted(split)}"
        )
    names, rows = split.get("columns"), split["data"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RequestError("'dataframe_split.columns' must be a list of column names")
    if len(set(names)) != len(names):
        raise RequestError(f"'dataframe_split.columns' names a column twice: {names}")
    if not isinstance(rows, list):
        raise RequestError(f"'dataframe_split.data' must be a list of rows, got {_describe(rows)}")
    width = len(names)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else _describe(row)
            raise RequestError(
                f"'dataframe_split.data' row {i} must be a list of {width} values (one per column), got {got}"
            )
    transposed = list(zip(*rows)) if rows else [()] * width
    return {name: list(vals) for name, vals in zip(names, transposed)}, len(rows)


def _columns_of_inputs(
    inputs: Any, key: str, columns: tuple[ColumnSpec, ...] | None
) -> tuple[dict[str, list[Any]], int]:
    if isinstance(inputs, dict):
        data: dict[str, list[Any]] = {}
        lengths = set()
        for name, values in inputs.items():
            values = values if isinstance(values, list) else [values]
            data[name] = values
            lengths.add(len(values))
        if len(lengths) > 1:
            raise RequestError(
                f"'{key}' columns have different lengths: {sorted(lengths)}; every column needs one value per row"
            )
        return data, lengths.pop() if lengths else 0
    if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
        return _columns_of_records(inputs, key)
    if (
        isinstance(inputs, list)
        and columns is not None
        and len(columns) == 1
        and not any(isinstance(v, (list, dict)) for v in inputs)
    ):
        return {columns[0].name: inputs}, len(inputs)
    if isinstance(inputs, list) and not inputs:
        return {}, 0
    raise RequestError(
        f"'{key}' must be an object of columns ({{\"col\": [values...]}}) or a list of row objects; "
        "lists of unnamed rows need column names: send {'dataframe_split': {'columns': [...], 'data': [...]}}"
    )


def _parse_json(body: bytes, columns: tuple[ColumnSpec, ...] | None) -> pd.DataFrame:
    try:
        payload = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise RequestError("the JSON body is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise RequestError(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestError(
            f"the JSON body must be an object with exactly one of {', '.join(FORMATS)}; got {_describe(payload)}"
        )
    keys = [k for k in payload if k in FORMATS]
    unknown = sorted(set(payload) - set(FORMATS) - {"params"})
    if len(keys) != 1 or unknown:
        raise RequestError(
            f"the JSON body must have exactly one of {', '.join(FORMATS)} (and optionally 'params'); "
            f"got keys {sorted(payload)}"
        )
    if payload.get("params"):
        log.warning(
            "ignoring 'params' %s: this model's predict takes no parameters",
            sorted(payload["params"]) if isinstance(payload["params"], dict) else payload["params"],
        )
    key = keys[0]
    if key == "dataframe_split":
        data, n_rows = _columns_of_split(payload[key])
    elif key == "dataframe_records":
        data, n_rows = _columns_of_records(payload[key], key)
    else:
        data, n_rows = _columns_of_inputs(payload[key], key, columns)
    if columns is None:
        try:
            return pd.DataFrame(data)
        except (ValueError, TypeError) as exc:
            raise RequestError(f"cannot build a table from '{key}': {exc}") from None
    return _frame(columns, data, n_rows)


def _parse_csv(body: bytes, columns: tuple[ColumnSpec, ...] | None) -> pd.DataFrame:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the CSV body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str if columns is not None else None)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RequestError(f"the body is not a CSV table with a header row: {exc}") from None
    if columns is None:
        return raw
    if raw.columns.duplicated().any():
        raise RequestError(f"the CSV header names a column twice: {list(raw.columns)}")
    return _frame(columns, {name: raw[name] for name in raw.columns}, len(raw), from_text=True)


def parse_request(body: bytes, content_type: str, columns: tuple[ColumnSpec, ...] | None) -> pd.DataFrame:
    """Turn a request body into the model's input frame, or raise RequestError.

    Args:
        body: the raw request body.
        content_type: the request's Content-Type header.
        columns: the signature's input columns (None: no checks, as the client sent it).
    """
    mime, _, rest = (content_type or "").partition(";")
    mime = mime.strip().lower()
    params = dict(p.strip().partition("=")[::2] for p in rest.split(";") if p.strip())
    charset = params.pop("charset", "utf-8").strip().strip('"').lower()
    if charset not in ("utf-8", "utf8"):
        raise RequestError(
            f"charset '{charset}' is not supported; send UTF-8", status=415, error_code="UNSUPPORTED_MEDIA_TYPE"
        )
    if params:
        raise RequestError(
            f"unknown Content-Type parameters {sorted(params)}; send '{JSON_TYPE}' or '{CSV_TYPE}'",
            status=415,
            error_code="UNSUPPORTED_MEDIA_TYPE",
        )
    if mime == JSON_TYPE:
        return _parse_json(body, columns)
    if mime == CSV_TYPE:
        return _parse_csv(body, columns)
    raise RequestError(
        f"Content-Type '{content_type or ''}' is not supported; send '{JSON_TYPE}' or '{CSV_TYPE}'",
        status=415,
        error_code="UNSUPPORTED_MEDIA_TYPE",
    )


def _accepts_matrix(predict: Callable[[Any], Any], columns: tuple[ColumnSpec, ...] | None) -> bool:
    """Whether ``predict`` answers the bare float matrix exactly as the frame of named columns.

    Then requests skip pandas on the way into the model: scikit-learn's checks of a
    DataFrame's names and dtypes cost a third of a one-row prediction. Tried once, at
    load, on two rows (zeros, and 1..n so that a model reading columns by position in
    another order answers differently); a model that needs names (a ColumnTransformer
    selecting by name) raises on the matrix and keeps getting frames.
    """
    if not columns or len({c.type for c in columns}) != 1 or columns[0].type not in _FLOAT_DTYPE:
        return False
    names = [c.name for c in columns]
    trial = np.vstack([np.zeros(len(names)), np.arange(1, len(names) + 1)]).astype(_FLOAT_DTYPE[columns[0].type])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            named = np.asarray(predict(pd.DataFrame(trial, columns=names)))
            bare = np.asarray(predict(trial))
    except Exception:  # noqa: BLE001 - any refusal of the matrix: frames it is
        return False
    return named.shape == bare.shape and named.dtype == bare.dtype and np.array_equal(named, bare)


# --------------------------------------------------------------------------- output


def _jsonable(predictions: Any) -> Any:
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, (pd.Series, np.ndarray)):
        return predictions.tolist()
    return predictions


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# --------------------------------------------------------------------------- WSGI app

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


class ScoringApp:
    """The WSGI callable: one loaded model, its signature and limits, its metrics and inference log.

    Args:
        metrics: where requests are counted (default: shared through ``MLP_METRICS_DIR`` when set).
        spool: the inference log (default: from ``MLP_LOG_SAMPLE``; None when off).
    """

    def __init__(
        self,
        config: ServingConfig,
        model: Any,
        metrics: server_metrics.Metrics | None = None,
        spool: inference_spool.Spool | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self._predict = getattr(model, config.predict_fn)
        self.takes_matrix = _accepts_matrix(self._predict, config.columns)
        self._version = json.dumps(config.version_info()).encode()
        self.metrics = metrics or server_metrics.Metrics.from_env(
            {"model": config.model_name, "version": str(config.model_version)}
        )
        self.spool = spool or inference_spool.Spool.from_env(
            config.model_name, config.model_version, self.metrics.inc, _json_default
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.perf_counter()
        status: list[str] = []

        def recording_start_response(line: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            status.append(line.split(" ", 1)[0])
            return start_response(line, headers, *rest)

        path = environ.get("PATH_INFO", "") or "/"
        try:
            return self._route(environ, recording_start_response, path)
        finally:
            endpoint = path if path in ENDPOINTS else "other"
            # the request's count last: a worker's file that counts a request holds all its other figures
            self.metrics.observe(
                "mlp_request_duration_seconds",
                (time.perf_counter() - started,),
                server_metrics.LATENCY_BUCKETS,
                endpoint=endpoint,
            )
            self.metrics.inc("mlp_requests", endpoint=endpoint, status=status[0] if status else "500")

    def _route(self, environ: dict[str, Any], start_response: Callable[..., Any], path: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/invocations":
                if method != "POST":
                    raise RequestError("use POST on /invocations", status=405, error_code="METHOD_NOT_ALLOWED")
                return self._invocations(environ, start_response)
            if path in ("/ping", "/health", "/version"):
                if method not in ("GET", "HEAD"):
                    raise RequestError(f"use GET on {path}", status=405, error_code="METHOD_NOT_ALLOWED")
                body = self._version if path == "/version" else b'{"status": "ok"}'
                return _respond(start_response, 200, body)
            if path == "/metrics":
                if method not in ("GET", "HEAD"):
                    raise RequestError("use GET on /metrics", status=405, error_code="METHOD_NOT_ALLOWED")
                return _respond(start_response, 200, self.metrics.render(self.config.env_id), METRICS_TYPE)
            raise RequestError(
                f"no endpoint {path}; use POST /invocations, GET /ping, /health, /version or /metrics",
                status=404,
                error_code="NOT_FOUND",
            )
        except RequestError as exc:
            return _error(start_response, exc.status, exc.error_code, exc.message)
        except Exception as exc:  # the process keeps serving whatever one request did
            log.exception("unexpected error on %s %s", method, path)
            return _error(
                start_response, 500, "INTERNAL_ERROR", f"unexpected server error: {type(exc).__name__}: {exc}"
            )

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        limit = self.config.max_body_bytes
        length_text = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise RequestError(f"Content-Length '{length_text}' is not a number") from None
            if length > limit:
                if length <= DRAIN_FACTOR * limit:
                    _discard(stream, length)
                raise RequestError(
                    f"the body has {length} bytes, more than the limit of {limit} (MLP_MAX_BODY_BYTES); "
                    "send fewer rows per request",
                    status=413,
                    error_code="PAYLOAD_TOO_LARGE",
                )
            return stream.read(length)
        body = stream.read(limit + 1)
        if len(body) > limit:
            _discard(stream, (DRAIN_FACTOR - 1) * limit)
            raise RequestError(
                f"the body is larger than the limit of {limit} bytes (MLP_MAX_BODY_BYTES); send fewer rows per request",
                status=413,
                error_code="PAYLOAD_TOO_LARGE",
            )
        return body

    def _invocations(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.time()
        clock = time.perf_counter()
        body = self._read_body(environ)
        if not body:
            raise RequestError("the request body is empty; send JSON or CSV rows to score")
        frame = parse_request(body, environ.get("CONTENT_TYPE", ""), self.config.columns)
        try:
            predictions = self._predict(frame.to_numpy() if self.takes_matrix else frame)
        except Exception as exc:  # MLflow answers model failures on client data with 400 too
            log.warning(
                "model %s v%s failed on a %d-row input: %s",
                self.config.model_name,
                self.config.model_version,
                len(frame),
                exc,
            )
            raise RequestError(
                f"the model could not score the input ({len(frame)} rows): {type(exc).__name__}: {exc}"
            ) from None
        values = _jsonable(predictions)
        out = json.dumps({"predictions": values}, default=_json_default).encode()
        request_id = environ.get("HTTP_X_REQUEST_ID") or uuid.uuid4().hex
        self.metrics.inc("mlp_rows_scored", len(frame))
        self.metrics.observe_predictions(values)
        if self.spool is not None:
            self.spool.offer(request_id, started, time.perf_counter() - clock, frame, values)
        return _respond(start_response, 200, out, headers=[("X-Request-Id", request_id)])


def _respond(
    start_response: Callable[..., Any],
    status: int,
    body: bytes,
    content_type: str = JSON_TYPE,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(
        f"{status} {_REASONS.get(status, '')}".strip(),
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *(headers or [])],
    )
    return [body]


def _discard(stream: Any, budget: int) -> None:
    """Read and drop up to ``budget`` bytes of a refused body, a chunk at a time."""
    while budget > 0:
        chunk = stream.read(min(DRAIN_CHUNK, budget))
        if not chunk:
            return
        budget -= len(chunk)


def _error(start_response: Callable[..., Any], status: int, code: str, message: str) -> list[bytes]:
    return _respond(start_response, status, json.dumps({"error_code": code, "message": message}).encode())


def load_model(path: str | os.PathLike[str]) -> Any:
    """Unpickle the model with cloudpickle (no MLflow)."""
    import cloudpickle

    with open(path, "rb") as handle:
        return cloudpickle.load(handle)


def create_app(directory: str | os.PathLike[str] | None = None) -> ScoringApp:
    """Build the app from ``serving.json`` in ``directory`` (default: ``MLP_SERVING_DIR`` or this file's folder).

    ``MLP_MAX_BODY_BYTES`` overrides the body size limit.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
    directory = directory or os.environ.get("MLP_SERVING_DIR") or os.path.dirname(os.path.abspath(__file__))
    limit = os.environ.get("MLP_MAX_BODY_BYTES")
    config = ServingConfig.load(directory, max_body_bytes=int(limit) if limit else None)
    started = time.perf_counter()
    app = ScoringApp(config, load_model(config.model_path))
    log.info(
        "serving model:%s@%s (env %s) from %s, loaded in %.2f s; inputs reach it as %s",
        config.model_name,
        config.model_version,
        config.env_id,
        config.model_path,
        time.perf_counter() - started,
        "a float matrix (it answers that as it does named columns)" if app.takes_matrix else "a pandas DataFrame",
    )
    return app
