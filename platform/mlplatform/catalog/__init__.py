"""The web catalog (``mlp ui``): read-only pages over the platform's own records.

Feature sets, training sets, models, environments, scores, lineage and the audit log,
each page linking to the others by id. Plain WSGI (:mod:`mlplatform.catalog.app`) and
Jinja2 templates shipped in the package; no JVM, no external resource.
"""

from __future__ import annotations
