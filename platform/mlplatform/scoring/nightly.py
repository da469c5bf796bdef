"""The nightly scoring run for schedulers: every model in ``conf/scoring.yaml``, one run date.

``scripts/nightly-score [RUN_DATE]`` calls :func:`main`. Each model is resolved
(alias ``champion`` unless the config says otherwise) and scored by its own
spark-submit of ``jobs/score.py`` in its own environment, so one failing model does
not stop the others. One log line per step goes to stderr; the Spark output of each
job goes to ``<home>/logs/nightly-score/<run date>/<model>.log``. With ``spark_conf:
{spark.submit.deployMode: cluster}`` on the ``yarn`` profile the drivers run in YARN;
success is then read from the scores table's commit of the job's run id, since the
driver's summary file stays on its node. The exit code is
0 when every model was scored, 1 when any failed, 2 when the config is unusable.
Re-running a run date replaces that date's partition of every table: the run is
idempotent and safe to retry.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field, ValidationError

from mlplatform import logconf, tables
from mlplatform.config import Settings, conf_dir, load_settings
from mlplatform.errors import PlatformError, ScoringError
from mlplatform.launch.submit import run_logged
from mlplatform.scoring.batch import parse_run_date, scores_uri
from mlplatform.scoring.job import ScoringRequest, check, score_command
from mlplatform.specfiles import StrictModel, problems, read_mapping
from mlplatform.tracking import model_registry

__all__ = ["ScoringEntry", "ScoringConfig", "Outcome", "load_config", "run", "main"]

log = logging.getLogger("mlp.nightly-score")


class ScoringEntry(StrictModel):
    """One model the nightly job scores."""

    model: str = Field(description="Registered model name.")
    alias: str = Field(model_registry.ALIAS_CHAMPION, description="Alias of the version to score.")
    input: str | None = Field(
        None, description="A prepared table to score (feature set NAME or Delta path); default: the model's features."
    )
    keys: list[str] | None = Field(None, description="With input: columns copied next to each prediction.")
    where: str | None = Field(None, description="With input: Spark SQL filter on the input rows.")
    entities: str | None = Field(None, description="Without input: Delta table or feature set of entity keys.")
    entities_where: str | None = Field(None, description="SQL filter on the entities table.")
    max_staleness: str | None = Field(None, description="Oldest a feature set's newest row may be (default: TTL).")
    engine: Literal["auto", "pandas", "spark"] = Field("auto", description="Point-in-time join engine.")

    def request(self, day: date, run_id: str) -> ScoringRequest:
        """The scoring request of this entry for ``day``."""
        return ScoringRequest(
            model=f"{self.model}@{self.alias}",
            run_date=day.isoformat(),
            input=self.input,
            keys=tuple(self.keys) if self.keys else None,
            where=self.where,
            entities=self.entities,
            entities_where=self.entities_where,
            max_staleness=self.max_staleness,
            engine=self.engine,
            run_id=run_id,
        )


class ScoringConfig(StrictModel):
    """``conf/scoring.yaml``."""

    profile: str | None = Field(None, description="Spark profile for the jobs (default: the spark_profile setting).")
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="Spark settings on top of the profile, for every job."
    )
    models: list[ScoringEntry] = Field(default_factory=list, description="The models to score, in order.")


@dataclass(frozen=True)
class Outcome:
    """How one model's nightly scoring ended."""

    model: str
    ok: bool
    detail: str
    seconds: float


def load_config(path: str | Path | None = None) -> tuple[Path, ScoringConfig]:
    """Parse ``conf/scoring.yaml`` (or ``path``); a ScoringError naming the file and key when invalid."""
    file = Path(path) if path else conf_dir() / "scoring.yaml"
    if not file.is_file():
        raise ScoringError(
            f"scoring config {file} does not exist", "create it with a 'models:' list (see README, Batch scoring)"
        )
    data = read_mapping(file, ScoringError, "scoring config")
    try:
        return file, ScoringConfig(**data)
    except ValidationError as exc:
        raise ScoringError(
            f"scoring config {file}: {problems(exc)}",
            "top-level keys: profile, spark_conf, models; per model: model, alias, input, keys, where (a prepared "
            "table) or entities, entities_where, max_staleness, engine (the model's features)",
        ) from exc


def _committed(settings: Settings, model: str, run_id: str) -> dict[str, object]:
    """The summary of scoring run ``run_id`` from the scores table's history ({} when it did not commit)."""

    try:
        commits = tables.history(scores_uri(settings, model), limit=20)
    except PlatformError:
        return {}
    for commit in commits:
        if commit.metadata.get("run_id") == run_id:
            return {
                "ok": True,
                "rows": commit.operation_metrics.get("numOutputRows"),
                "scores_id": f"scores:{model}@v{commit.version}",
                "model_version": str(commit.metadata.get("model")).rsplit("@", 1)[-1],
            }
    return {}


def _score_one(settings: Settings, entry: ScoringEntry, day: date, cfg: ScoringConfig, logs: Path) -> Outcome:
    started = time.monotonic()
    run_id = f"score-{day:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    ref = f"{entry.model}@{entry.alias}"
    try:
        info = model_registry.resolve(ref, settings)
        log.info("%s: resolved to version %d (%s)", ref, info.version, info.env_id or "no env recorded")

        request = check(settings, info, entry.request(day, run_id))
        summary = logs / f"{entry.model}.json"
        summary.unlink(missing_ok=True)
        command = score_command(settings, info, request, str(summary), cfg.profile, cfg.spark_conf)
    except PlatformError as exc:
        return Outcome(ref, False, exc.render(), time.monotonic() - started)
    job_log = logs / f"{entry.model}.log"
    what = f"{request.input}@v{request.input_version}" if request.input else f"its features as of {request.as_of}"
    log.info("%s: scoring %s for %s (spark log: %s)", ref, what, day.isoformat(), job_log)
    try:
        code = run_logged(command, job_log)
    except PlatformError as exc:
        return Outcome(ref, False, exc.render(), time.monotonic() - started)
    result = json.loads(summary.read_text()) if summary.is_file() else {}
    if code == 0 and not result:
        result = _committed(settings, entry.model, run_id)
    seconds = time.monotonic() - started
    if code == 0 and result.get("ok"):
        return Outcome(
            ref,
            True,
            f"{result['rows']} rows -> {result['scores_id']} (model version {result['model_version']})",
            seconds,
        )
    reason = result.get("error") or f"spark-submit exited with code {code}; see {job_log}"
    return Outcome(ref, False, reason, seconds)


def run(
    run_date: str | date | None = None, config: str | Path | None = None, settings: Settings | None = None
) -> list[Outcome]:
    """Score every configured model for ``run_date``; never stops at a failing model."""

    settings = settings or load_settings()
    day = parse_run_date(run_date)
    file, cfg = load_config(config)
    logs = Path(settings.home) / "logs" / "nightly-score" / day.isoformat()
    logs.mkdir(parents=True, exist_ok=True)
    log.info("run date %s: %d model(s) from %s", day.isoformat(), len(cfg.models), file)
    outcomes = []
    for entry in cfg.models:
        outcome = _score_one(settings, entry, day, cfg, logs)
        level = logging.INFO if outcome.ok else logging.ERROR
        log.log(
            level,
            "%s: %s in %.1f s: %s",
            outcome.model,
            "ok" if outcome.ok else "FAILED",
            outcome.seconds,
            outcome.detail,
        )
        outcomes.append(outcome)
    failed = [o.model for o in outcomes if not o.ok]
    log.info(
        "run date %s: %d scored, %d failed%s",
        day.isoformat(),
        len(outcomes) - len(failed),
        len(failed),
        f" ({', '.join(failed)})" if failed else "",
    )
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    """``nightly-score [RUN_DATE] [--config FILE]``: exit 0 all scored, 1 any failed, 2 unusable config/date."""
    parser = argparse.ArgumentParser(
        prog="nightly-score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_date", nargs="?", default=None, help="YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--config", default=None, help="scoring config (default: conf/scoring.yaml)")
    args = parser.parse_args(argv)
    logconf.setup("%(asctime)s nightly-score %(levelname)s %(message)s")
    try:
        outcomes = run(args.run_date, args.config)
    except PlatformError as exc:
        log.error("%s", exc.render())
        return 2
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
