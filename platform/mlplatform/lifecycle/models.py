"""Registered models: list, describe, promote to ``champion``, roll back.

The ``champion`` alias says which version serves. Every change of it is kept twice:
in the registered model's tag ``mlp.champion_history`` (a JSON list of versions, the
current champion last, so a rollback knows what came before) and as a ``promote`` or
``rollback`` row in the audit log (the lineage table). If the audit row cannot be
written, the alias change is undone: the registry and the log never disagree.

Where ``conf/governance.yaml`` says ``approval: required``, :func:`promote` changes the
champion only with an approval (:mod:`mlplatform.lifecycle.approvals` passes it) and
:func:`rollback` only as an owner's break-glass, whose approval is then owed.

Example:
    >>> promote("churn", 3, settings, reason="beats v2 on roc_auc")   # doctest: +SKIP
    >>> rollback("churn", settings, reason="v3 drifts")               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from mlplatform.config import Settings
from mlplatform.errors import GovernanceError, LifecycleError, NoChampionError, UnknownModelError
from mlplatform.governance.policy import load_policy, members
from mlplatform.governance.requests import add_request
from mlplatform.identity import current_actor
from mlplatform.lineage.edges import record
from mlplatform.tracking.model_registry import (
    ALIAS_CHALLENGER,
    ALIAS_CHAMPION,
    TAG_CODE_VERSION,
    TAG_DECISION_THRESHOLD,
    TAG_ENV_ID,
    TAG_METRICS,
    TAG_PRIMARY_METRIC,
    TAG_TRAINING_SET,
)
from mlplatform.tracking.store import configure
from mlplatform.training.executor import METRICS

__all__ = [
    "TAG_CHAMPION_HISTORY",
    "ModelSummary",
    "VersionInfo",
    "ModelDescription",
    "AliasChange",
    "client",
    "list_models",
    "describe",
    "registry_state",
    "registered_models",
    "champion_version",
    "version_numbers",
    "promote",
    "rollback",
]

log = logging.getLogger(__name__)

TAG_CHAMPION_HISTORY = "mlp.champion_history"


@dataclass(frozen=True)
class ModelSummary:
    """One registered model, a line of ``mlp models list``."""

    name: str
    versions: int
    latest: int | None
    champion: int | None
    challenger: int | None
    primary_metric: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class VersionInfo:
    """One version with its links and held-out metrics."""

    version: int
    aliases: tuple[str, ...]
    run_id: str
    created_at: datetime | None
    env_id: str | None
    training_set: str | None
    code_version: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    decision_threshold: float | None = None  # what predict applies to predict_proba[:, 1]; None: the estimator's own


@dataclass(frozen=True)
class ModelDescription:
    """``mlp models describe``: the model, its versions and its champion history."""

    summary: ModelSummary
    description: str
    versions: tuple[VersionInfo, ...]
    champion_history: tuple[int, ...]
    definitions: dict[str, Any]


@dataclass(frozen=True)
class AliasChange:
    """A promotion or rollback as done and logged."""

    model: str
    action: str
    version: int
    previous: int | None
    reason: str
    job_run: str
    changed: bool = True
    lineage_version: int | None = None

    def describe(self) -> str:
        if not self.changed:
            return f"model:{self.model}@{self.version} is already the champion; nothing changed"
        before = f"model:{self.model}@{self.previous}" if self.previous is not None else "no champion"
        return (
            f"{self.action}: champion of '{self.model}' is now version {self.version} (was {before}); "
            f"reason: {self.reason}"
        )


def client(settings: Settings) -> Any:
    """An MlflowClient on the configured tracking and registry store."""
    from mlflow import MlflowClient

    configure(settings)
    return MlflowClient()


def _when(millis: int | None) -> datetime | None:
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc) if millis else None


def _registered(mlflow_client: Any, name: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_registered_model(name)
    except MlflowException as exc:
        known = sorted(m.name for m in mlflow_client.search_registered_models(max_results=1000))
        hint = (
            f"registered models: {', '.join(known)}"
            if known
            else "no model is registered yet; train one with 'mlp train NAME'"
        )
        raise UnknownModelError(f"no registered model named '{name}'", hint) from exc


def _versions(mlflow_client: Any, name: str) -> list[Any]:
    return sorted(mlflow_client.search_model_versions(f"name='{name}'"), key=lambda mv: int(mv.version))


def _version(mlflow_client: Any, name: str, version: int) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version(name, str(version))
    except MlflowException as exc:
        known = ", ".join(str(mv.version) for mv in _versions(mlflow_client, name)) or "none"
        raise UnknownModelError(f"model:{name}@{version} does not exist", f"versions of '{name}': {known}") from exc


def _alias(registered: Any, alias: str) -> int | None:
    value = (registered.aliases or {}).get(alias)
    return int(value) if value is not None else None


def _history(registered: Any) -> list[int]:
    raw = (registered.tags or {}).get(TAG_CHAMPION_HISTORY)
    return [int(v) for v in json.loads(raw)] if raw else []


def _summary(registered: Any, versions: list[Any]) -> ModelSummary:
    champion = _alias(registered, ALIAS_CHAMPION)
    primary = None
    for mv in reversed(versions):  # the champion's primary metric, else the newest version's
        if champion is None or int(mv.version) == champion:
            primary = (mv.tags or {}).get(TAG_PRIMARY_METRIC) or (
                json.loads((mv.tags or {}).get(TAG_METRICS) or "{}").get("primary")
            )
            break
    return ModelSummary(
        name=registered.name,
        versions=len(versions),
        latest=int(versions[-1].version) if versions else None,
        champion=champion,
        challenger=_alias(registered, ALIAS_CHALLENGER),
        primary_metric=primary,
        updated_at=_when(registered.last_updated_timestamp),
    )


def list_models(settings: Settings) -> list[ModelSummary]:
    """Every registered model with its champion, challenger and latest version."""
    mlflow_client = client(settings)
    return [_summary(found, _versions(mlflow_client, found.name)) for found in registered_models(settings)]


def _plain_metrics(logged: Mapping[str, float], names: set[str]) -> dict[str, float]:
    """Held-out metrics a training run logged, under their plain names."""
    out = {}
    for key, value in logged.items():
        plain = key.split(".", 1)[1] if key.startswith("holdout.") else key.removeprefix("holdout_")
        if plain in names and (key != plain or plain not in out):
            out[plain] = float(value)
    return out


_RUNS_PER_SEARCH = 100


def _runs_metrics(mlflow_client: Any, run_ids: list[str], names: set[str]) -> dict[str, dict[str, float]]:
    """Run id -> held-out metrics, one run search per 100 runs (a get_run per version took seconds at 1,000)."""
    from mlflow.entities import ViewType

    wanted = sorted({r for r in run_ids if r})
    if not wanted:
        return {}
    experiments, token = [], None
    while True:
        page = mlflow_client.search_experiments(view_type=ViewType.ALL, page_token=token)
        experiments += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    out = {}
    for start in range(0, len(wanted), _RUNS_PER_SEARCH):
        chunk = wanted[start : start + _RUNS_PER_SEARCH]
        among = "attributes.run_id IN (" + ", ".join(f"'{r}'" for r in chunk) + ")"
        for run in mlflow_client.search_runs(experiments, among, run_view_type=ViewType.ALL, max_results=len(chunk)):
            out[run.info.run_id] = _plain_metrics(run.data.metrics, names)
    return out


def describe(name: str, settings: Settings) -> ModelDescription:
    """A model, every version with its links and held-out metrics, and its champion history."""

    mlflow_client = client(settings)
    registered = _registered(mlflow_client, name)
    versions = _versions(mlflow_client, name)
    metrics = _runs_metrics(mlflow_client, [mv.run_id or "" for mv in versions], set(METRICS))
    rows = []
    for mv in versions:
        tags = dict(mv.tags or {})
        rows.append(
            VersionInfo(
                version=int(mv.version),
                aliases=tuple(sorted(a for a, v in (registered.aliases or {}).items() if int(v) == int(mv.version))),
                run_id=mv.run_id or "",
                created_at=_when(mv.creation_timestamp),
                env_id=tags.get(TAG_ENV_ID),
                training_set=tags.get(TAG_TRAINING_SET),
                code_version=tags.get(TAG_CODE_VERSION),
                metrics=metrics.get(mv.run_id or "", {}),
                tags=tags,
                decision_threshold=float(tags[TAG_DECISION_THRESHOLD]) if tags.get(TAG_DECISION_THRESHOLD) else None,
            )
        )
    summary = _summary(registered, versions)
    anchor = next((r for r in rows if r.version == summary.champion), rows[-1] if rows else None)
    definitions = json.loads(anchor.tags.get(TAG_METRICS) or "{}") if anchor else {}
    return ModelDescription(
        summary, registered.description or "", tuple(rows), tuple(_history(registered)), definitions
    )


def registry_state(registered: Any) -> tuple[Any, ...]:
    """What changes with a registered model (an MLflow ``RegisteredModel``): its last update (a
    version created, deleted or edited, the description), its aliases and its tags.

    MLflow's stores do not move the model's ``last_updated_timestamp`` for a version's tags,
    so a tag set on a version afterwards leaves this state as it was.
    """
    return (
        registered.last_updated_timestamp,
        tuple(sorted((registered.aliases or {}).items())),
        tuple(sorted((registered.tags or {}).items())),
        registered.description or "",
    )


def registered_models(settings: Settings, name: str | None = None) -> list[Any]:
    """MLflow's ``RegisteredModel`` of ``name`` (UnknownModelError when absent), or of every model, by name."""
    mlflow_client = client(settings)
    if name is not None:
        return [_registered(mlflow_client, name)]
    return sorted(mlflow_client.search_registered_models(max_results=1000), key=lambda m: m.name)


def version_numbers(name: str, settings: Settings) -> list[int]:
    """Every version number of registered model ``name``, oldest first (UnknownModelError when none)."""
    mlflow_client = client(settings)
    _registered(mlflow_client, name)
    return [int(mv.version) for mv in _versions(mlflow_client, name)]


def champion_version(name: str, settings: Settings, alias: str = ALIAS_CHAMPION) -> int:
    """The version behind ``alias`` (default ``champion``); NoChampionError when it is not set."""
    registered = _registered(client(settings), name)
    version = _alias(registered, alias)
    if version is None:
        if alias == ALIAS_CHAMPION:
            raise NoChampionError(
                f"model '{name}' has no champion", f"promote a version first: mlp models promote {name} VERSION"
            )
        known = ", ".join(f"{a}={v}" for a, v in sorted((registered.aliases or {}).items())) or "none"
        raise UnknownModelError(f"model '{name}' has no alias '{alias}'", f"aliases of '{name}': {known}")
    return version


def _job_run(action: str, job_run: str | None) -> str:
    return job_run or f"{action}-{uuid.uuid4().hex[:12]}"


def _apply(mlflow_client: Any, name: str, champion: int | None, history: list[int], challenger: int | None) -> None:
    """Set ``champion`` and ``challenger`` aliases (None deletes) and the history tag."""
    for alias, version in ((ALIAS_CHAMPION, champion), (ALIAS_CHALLENGER, challenger)):
        if version is None:
            try:
                mlflow_client.delete_registered_model_alias(name, alias)
            except Exception:  # noqa: BLE001 - deleting an alias that is not set
                log.debug("alias %s of %s was not set", alias, name)
        else:
            mlflow_client.set_registered_model_alias(name, alias, str(version))
    mlflow_client.set_registered_model_tag(name, TAG_CHAMPION_HISTORY, json.dumps(history))


def _change(
    settings: Settings,
    name: str,
    action: str,
    target: int,
    new_history: list[int],
    reason: str,
    job_run: str | None,
    details: Mapping[str, Any] | None,
) -> AliasChange:

    mlflow_client = client(settings)
    registered = _registered(mlflow_client, name)
    previous, challenger, old_history = (
        _alias(registered, ALIAS_CHAMPION),
        _alias(registered, ALIAS_CHALLENGER),
        _history(registered),
    )
    run = _job_run(action, job_run)
    _apply(mlflow_client, name, target, new_history, None if challenger == target else challenger)
    facts = {
        "model": name,
        "version": target,
        "previous": previous,
        "reason": reason,
        "champion_history": new_history,
        **dict(details or {}),
    }
    try:
        lineage_version = record(
            settings, [], action=action, job_run=run, details=facts, subject=f"model:{name}@{target}"
        )
    except Exception:
        log.error(
            "could not write the %s of model:%s@%s to the audit log; restoring the previous aliases",
            action,
            name,
            target,
        )
        _apply(mlflow_client, name, previous, old_history, challenger)
        raise
    change = AliasChange(name, action, target, previous, reason, run, True, lineage_version)
    log.debug("%s", change.describe())
    return change


def promote(
    name: str,
    version: int,
    settings: Settings,
    reason: str = "manual promotion",
    job_run: str | None = None,
    details: Mapping[str, Any] | None = None,
    approval: Mapping[str, Any] | None = None,
) -> AliasChange:
    """Make ``version`` the champion of ``name``, remember the previous one, log the decision.

    Args:
        approval: facts of the approved request (request id, requester, approver), kept in the
            audit row; required when the model's governance says ``approval: required``.

    Raises:
        UnknownModelError: the model or version does not exist.
        GovernanceError: the model needs an approval and none was given.
    """
    mlflow_client = client(settings)
    registered = _registered(mlflow_client, name)
    _version(mlflow_client, name, version)
    current = _alias(registered, ALIAS_CHAMPION)
    if current == version:
        return AliasChange(name, "promote", version, current, reason, _job_run("promote", job_run), changed=False)
    if approval is None and load_policy().policy(name).approval == "required":
        raise GovernanceError(
            f"model:{name}@{version}: conf/governance.yaml requires an approval to make it the champion of '{name}'",
            f"ask for one: mlp models request-promotion {name} {version} --reason TEXT",
        )
    history = _history(registered)
    if current is not None and (not history or history[-1] != current):
        history.append(current)  # the alias was set outside the platform: keep it rollback-able
    facts = {**dict(details or {}), **({"approval": dict(approval)} if approval else {})}
    return _change(settings, name, "promote", version, [*history, version], reason, job_run, facts)


def rollback(
    name: str,
    settings: Settings,
    to: int | None = None,
    reason: str = "manual rollback",
    job_run: str | None = None,
    break_glass: bool = False,
) -> AliasChange:
    """Restore the previous champion of ``name`` (or version ``to``) and log it.

    Args:
        break_glass: an owner's rollback without approval where one is required; the audit row
            says so and a request is left whose approval is owed (``mlp models requests``).

    Raises:
        NoChampionError: no champion now, or no earlier champion to return to.
        UnknownModelError: the model or ``to`` version does not exist.
        GovernanceError: an approval is required and this is no owner's break-glass.
    """
    mlflow_client = client(settings)
    registered = _registered(mlflow_client, name)
    current = _alias(registered, ALIAS_CHAMPION)
    if current is None:
        raise NoChampionError(
            f"model '{name}' has no champion to roll back",
            f"promote a version first: mlp models promote {name} VERSION",
        )
    history = _history(registered)
    if to is not None:
        _version(mlflow_client, name, to)
        if to == current:
            raise LifecycleError(
                f"model:{name}@{to} is already the champion", "pick an earlier version, see 'mlp models describe'"
            )
        new_history = history[: len(history) - history[::-1].index(to)] if to in history else [*history, to]
        target = to
    else:
        new_history = list(history)
        while new_history and new_history[-1] == current:
            new_history.pop()
        if not new_history:
            raise NoChampionError(
                f"model '{name}' has no earlier champion than version {current} to roll back to",
                f"roll back to a chosen version with --to VERSION, or promote one: mlp models promote {name} VERSION",
            )
        target = new_history[-1]
        _version(mlflow_client, name, target)
    policy = load_policy().policy(name)
    if policy.approval == "auto":
        return _change(settings, name, "rollback", target, new_history, reason, job_run, None)
    _check_break_glass(name, target, break_glass, policy.owners)
    change = _change(
        settings, name, "rollback", target, new_history, reason, job_run, {"break_glass": True, "approval": "owed"}
    )
    add_request(settings, name, target, reason, policy.request_ttl_hours, kind="break_glass", job_run=change.job_run)
    return change


def _check_break_glass(name: str, target: int, break_glass: bool, owners: list[str]) -> None:
    if not break_glass:
        raise GovernanceError(
            f"rollback of '{name}' to version {target}: conf/governance.yaml requires an approval for a new champion",
            f"ask for one: mlp models request-promotion {name} {target} --reason TEXT; "
            f"an owner in an emergency: mlp models rollback {name} --break-glass --reason TEXT",
        )
    actor = current_actor()
    if actor not in members(owners):
        raise GovernanceError(
            f"user '{actor}' is not an owner of model '{name}' and may not roll it back with --break-glass",
            f"owners in conf/governance.yaml: {', '.join(owners) or 'none'}; ask one of them",
        )
