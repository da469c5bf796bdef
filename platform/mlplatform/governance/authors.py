"""Who registered a model version: the one person who may never approve its promotion.

The platform's record first: the actor of the ``register`` audit row of ``model:NAME@V``
(the authenticated user who ran training). For versions registered outside the platform,
MLflow's own record: the version's ``user_id``, else its run's ``user_id``.
"""

from __future__ import annotations

import logging

from mlplatform.config import Settings
from mlplatform.lineage.audit import audit
from mlplatform.tracking.store import configure

__all__ = ["registered_by"]

log = logging.getLogger(__name__)


def registered_by(settings: Settings, model: str, version: int) -> str | None:
    """The user who registered ``model:model@version``; None when nothing records it."""
    found = audit(settings, action="register", artifact=f"model:{model}@{version}")
    if found:
        return found[-1].actor
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    client = MlflowClient()
    try:
        mv = client.get_model_version(model, str(version))
        return mv.user_id or (client.get_run(mv.run_id).info.user_id if mv.run_id else None) or None
    except MlflowException:
        log.debug("no MLflow record of model:%s@%s", model, version, exc_info=True)
        return None
