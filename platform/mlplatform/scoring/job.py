"""One batch scoring run as a request: its command line, its spark-submit, what ``jobs/score.py`` runs.

A :class:`ScoringRequest` scores either a prepared table (``input``, :func:`batch.score
<mlplatform.scoring.batch.score>`) or, without one, the model's own features from the
feature repository (:func:`from_features.score_features
<mlplatform.scoring.from_features.score_features>`). ``mlp score`` and the nightly runner
build the request, check it without a JVM (:func:`check`) and submit ``jobs/score.py`` with
:func:`score_command`; the job parses the same arguments (:func:`parser`) and calls :func:`run`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from typing import Mapping

from mlplatform.config import Settings, load_settings
from mlplatform.features.definitions import parse_duration
from mlplatform.features.scoring_sets import ScoringSetPlan
from mlplatform.launch.command import SubmitCommand
from mlplatform.launch.jobrun import JobResult
from mlplatform.launch.session import session, under_spark_submit
from mlplatform.launch.submit import build_submit
from mlplatform.scoring import batch, from_features
from mlplatform.tracking import model_registry

__all__ = ["ScoringRequest", "parser", "check", "score_command", "run"]


@dataclass(frozen=True)
class ScoringRequest:
    """What to score, for which run date, and how (see :func:`parser` for each field's meaning)."""

    model: str
    run_date: str | None = None
    input: str | None = None
    keys: tuple[str, ...] | None = None
    where: str | None = None
    input_version: int | None = None
    entities: str | None = None
    entities_where: str | None = None
    as_of: str | None = None
    engine: str = "auto"
    allow_definition_change: bool = False
    max_staleness: str | None = None
    run_id: str | None = None

    @property
    def from_features(self) -> bool:
        return self.input is None

    def staleness(self) -> timedelta | None:
        return parse_duration(self.max_staleness) if self.max_staleness else None

    def argv(self) -> list[str]:
        """The request as the job's command-line arguments."""
        out = [self.model]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "model" or value is None or value is False or (f.name == "engine" and value == "auto"):
                continue
            flag = "--" + f.name.replace("_", "-")
            out += [flag] if value is True else [flag, ",".join(value) if f.name == "keys" else str(value)]
        return out


def _keys(text: str) -> tuple[str, ...] | None:
    return tuple(k for k in text.split(",") if k) or None


def parser() -> argparse.ArgumentParser:
    """The arguments of ``jobs/score.py`` (``--summary`` too); :func:`ScoringRequest.argv` writes them."""
    p = argparse.ArgumentParser(prog="score", description="Score a registered model into <warehouse>/scores/<model>.")
    p.add_argument("model", help="MODEL@ALIAS or MODEL@VERSION (default alias: champion)")
    p.add_argument("--run-date", default=None, help="YYYY-MM-DD partition to (re)write (default: today, UTC)")
    p.add_argument("--input", default=None, help="a prepared table to score: feature set NAME, fs:NAME@vN or a path")
    p.add_argument("--keys", type=_keys, default=None, help="with --input: columns copied next to each prediction")
    p.add_argument("--where", default=None, help="with --input: Spark SQL filter on the input rows")
    p.add_argument("--input-version", type=int, default=None, help="with --input: its Delta version")
    p.add_argument("--entities", default=None, help="without --input: Delta table or feature set of entity keys")
    p.add_argument("--entities-where", default=None, help="SQL filter on the entity table")
    p.add_argument("--as-of", default=None, help="look features up at this time (default: end of the run date, UTC)")
    p.add_argument("--engine", choices=["auto", "pandas", "spark"], default="auto", help="point-in-time join engine")
    p.add_argument("--allow-definition-change", action="store_true", help="score although a feature set changed")
    p.add_argument("--max-staleness", default=None, help="how old a feature set's newest row may be (e.g. 45d)")
    p.add_argument("--run-id", default=None, help="id of this scoring run (default: generated)")
    p.add_argument("--summary", default=None, help="write the result (or the error) here as JSON")
    return p


def request_of(args: argparse.Namespace) -> ScoringRequest:
    """The request a parsed command line describes."""
    return ScoringRequest(**{f.name: getattr(args, f.name) for f in fields(ScoringRequest)})


def check(settings: Settings, info: model_registry.ModelVersionInfo, request: ScoringRequest) -> ScoringRequest:
    """Check the request without a JVM and pin what it reads; the request to submit.

    With ``input``, the input table's current Delta version is pinned. From the feature
    repository, the scoring set is planned: definitions, staleness, entities and the
    population are checked here, and the as-of time is fixed.

    Raises:
        ScoringError, FeatureError, SignatureError: the one-line reason nothing will be scored.
    """
    day = batch.parse_run_date(request.run_date)
    batch.verified_model(settings, info)
    if not request.from_features:
        source = batch.resolve_input(settings, request.input or "", request.input_version)
        return replace(request, run_date=day.isoformat(), input_version=source.version)
    p = _scoring_set(settings, info, request, day)
    return replace(request, run_date=day.isoformat(), as_of=p.as_of.isoformat())


def _scoring_set(
    settings: Settings, info: model_registry.ModelVersionInfo, request: ScoringRequest, day: date
) -> ScoringSetPlan:
    return from_features.plan_scoring_set(
        settings,
        info,
        day,
        request.as_of,
        request.entities,
        request.entities_where,
        request.allow_definition_change,
        request.staleness(),
    )


def score_command(
    settings: Settings,
    info: model_registry.ModelVersionInfo,
    request: ScoringRequest,
    summary: str | None = None,
    profile: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
) -> SubmitCommand:
    """The spark-submit command of ``jobs/score.py`` for exactly this model version, in its environment.

    ``spark_conf`` goes on top of the profile (e.g. ``spark.submit.deployMode=cluster``).
    """
    args = replace(request, model=f"{info.name}@{info.version}").argv()
    args += ["--summary", summary] if summary else []
    return build_submit(
        settings,
        "score",
        args,
        profile=profile,
        extra_conf=spark_conf,
        env=info.env_id,
        app_name=f"mlp-score-{info.name}",
    )


def run(request: ScoringRequest) -> JobResult:
    """What ``jobs/score.py`` does: start Spark in the model's environment, score, report the result.

    Under spark-submit the environment was shipped with the job (``mlp score``, ``mlp submit --env``);
    started as a plain Python process the session is created in the model version's recorded environment.
    The result goes to the ``--summary`` file and, as one JSON line, to stdout.
    """
    settings = load_settings()
    day = batch.parse_run_date(request.run_date)
    info = model_registry.resolve(request.model, settings)
    planned = None
    if request.from_features:  # the guards run before Spark starts
        planned = _scoring_set(settings, info, request, day)
    env = None if under_spark_submit() else info.env_id
    spark = session(app_name=f"mlp-score-{info.name}", settings=settings, env=env)
    if planned is not None:
        result = from_features.score_planned(spark, settings, info, planned, day, request.engine, request.run_id)
    else:
        result = batch.score(
            spark,
            settings,
            f"{info.name}@{info.version}",
            request.input or "",
            day,
            keys=request.keys,
            where=request.where,
            input_version=request.input_version,
            run_id=request.run_id,
        )
    return JobResult(summary=json.loads(result.to_json()), stdout=(result.to_json(),))
