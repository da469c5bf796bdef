"""``conf/governance.yaml``: per model (and a default) its approval mode, owners and approvers.

Owners and approvers are user names or ``@group`` names; a group stands for its members in
the system's group database (``grp``: ``/etc/group``, or LDAP through NSS), including the
users whose primary group it is.

Example:
    >>> policy = load_policy().policy("churn")                  # doctest: +SKIP
    >>> policy.approval, sorted(members(policy.approvers))      # doctest: +SKIP
    ('required', ['dave', 'erin'])
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from mlplatform.config import conf_dir
from mlplatform.errors import GovernanceError
from mlplatform.specfiles import StrictModel, problems, read_mapping

__all__ = ["ModelGovernance", "GovernanceConfig", "load_policy", "members"]


class ModelGovernance(StrictModel):
    """Who may do what with one model."""

    approval: Literal["auto", "required"] = Field(
        "auto",
        description="auto: 'mlp models promote' and the retrain loop change the champion as they always did; "
        "required: a champion change needs an approved request.",
    )
    owners: list[str] = Field(
        default_factory=list, description="Users or @groups who may roll back with --break-glass."
    )
    approvers: list[str] = Field(
        default_factory=list,
        description="Users or @groups who may approve; never the version's author nor the requester.",
    )
    request_ttl_hours: float = Field(72, gt=0, description="A pending request expires after this many hours.")

    @field_validator("owners", "approvers")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not v.strip().lstrip("@") or v != v.strip()]
        if bad:
            raise ValueError(f"{bad} are not user or @group names")
        return value


class GovernanceConfig(StrictModel):
    """``conf/governance.yaml``: a default and per-model entries (an entry replaces the default whole)."""

    default: ModelGovernance = Field(default_factory=ModelGovernance, description="Models not listed under 'models'.")
    models: dict[str, ModelGovernance] = Field(default_factory=dict, description="Model name -> its governance.")

    def policy(self, model: str) -> ModelGovernance:
        return self.models.get(model, self.default)


def load_policy(path: str | Path | None = None) -> GovernanceConfig:
    """Read ``conf/governance.yaml`` (``MLP_GOVERNANCE`` or ``path`` overrides; defaults when absent)."""
    given = path or os.environ.get("MLP_GOVERNANCE")
    file = Path(given) if given else conf_dir() / "governance.yaml"
    if not file.is_file():
        if given:
            raise GovernanceError(
                f"governance config {file} does not exist", "point MLP_GOVERNANCE at an existing file"
            )
        return GovernanceConfig()
    try:
        return GovernanceConfig(**read_mapping(file, GovernanceError, "governance config"))
    except ValidationError as exc:
        raise GovernanceError(
            f"governance config {file}: {problems(exc)}",
            "known keys: default, models.<name>: approval (auto|required), owners, approvers, request_ttl_hours",
        ) from exc


def members(entries: list[str]) -> set[str]:
    """User names of ``entries``: users as they are, ``@group`` expanded through the group database."""
    out: set[str] = set()
    for entry in entries:
        if not entry.startswith("@"):
            out.add(entry)
            continue
        try:
            group = grp.getgrnam(entry[1:])
        except KeyError as exc:
            raise GovernanceError(
                f"governance config names group '{entry[1:]}', which the system does not know",
                "create the group, or fix its name in conf/governance.yaml ('getent group NAME' lists it)",
            ) from exc
        out.update(group.gr_mem)
        out.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == group.gr_gid)
    return out
