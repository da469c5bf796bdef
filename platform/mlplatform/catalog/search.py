"""Search over the records: feature sets and their features, training sets, models, environments, scores.

A case-insensitive substring match; an empty query lists every record (features excepted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlplatform import envs, features
from mlplatform.catalog.links import url_for_id
from mlplatform.config import Settings
from mlplatform.errors import EnvError
from mlplatform.features.catalog import trainset_names
from mlplatform.lifecycle.models import ModelSummary
from mlplatform.scoring import results

__all__ = ["Hit", "search"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """One search result: what it is, its id, where its page is, and what matched."""

    kind: str
    id: str
    url: str
    text: str


def _feature_hits(text: str, settings: Settings) -> list[Hit]:
    out = []
    for found in features.search(text, settings):
        name = found["name"]
        out.append(Hit("feature set", f"fs:{name}", f"/fs/{name}", found["description"]))
        for feature in found["matching_features"]:
            out.append(Hit("feature", f"{name}.{feature}", f"/fs/{name}#feature-{feature}", f"in {name}"))
    return out


def _env_hits(needle: str, settings: Settings) -> list[Hit]:
    """Environment specs in the project (name, description, owner) and published builds (id)."""
    out = []
    for name in envs.spec_names():
        try:
            spec = envs.load_spec(name)
        except EnvError as exc:
            log.warning("environment spec %s cannot be read: %s", name, exc)
            continue
        if needle in " ".join([name, spec.description or "", spec.owner or ""]).lower():
            out.append(Hit("environment", f"env:{name}", url_for_id(f"env:{name}"), spec.description or ""))
    for artifact in envs.list_artifacts(settings):
        if needle in artifact.id.lower():
            about = f"python {artifact.python_version}, {artifact.builder}"
            out.append(Hit("environment build", artifact.id, url_for_id(artifact.id), about))
    return out


def search(text: str, settings: Settings, models: list[ModelSummary]) -> list[Hit]:
    """Every record whose name (or description, tags, owner, features) contains ``text``; ``models``: the registry's."""
    needle = text.strip().lower()
    if needle:
        hits = _feature_hits(needle, settings)
    else:
        sets = features.summaries(settings)
        hits = [Hit("feature set", f"fs:{s['name']}", f"/fs/{s['name']}", s["description"]) for s in sets]
    hits += [Hit("training set", f"ts:{n}", f"/ts/{n}", "") for n in trainset_names(settings) if needle in n.lower()]
    for model in models:
        if needle in model.name.lower():
            text_ = f"{model.versions} version(s), champion {model.champion if model.champion is not None else '-'}"
            hits.append(Hit("model", f"model:{model.name}", f"/models/{model.name}", text_))
    hits += _env_hits(needle, settings)
    for row in results.tables_summary(settings).to_dict("records"):
        if needle in row["model"].lower():
            hits.append(
                Hit("scores", f"scores:{row['model']}", f"/scores/{row['model']}", f"{row['run_dates']} run date(s)")
            )
    log.debug("search %r: %d hit(s)", text, len(hits))
    return hits
