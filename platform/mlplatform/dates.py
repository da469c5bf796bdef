"""The run date of a nightly job (scoring, retraining): ``YYYY-MM-DD``, today in UTC by default."""

from __future__ import annotations

from datetime import date, datetime, timezone

from mlplatform.errors import PlatformError

__all__ = ["parse_run_date"]


def parse_run_date(
    text: str | date | None, error: type[PlatformError] = PlatformError, example: str = "2024-06-30"
) -> date:
    """``YYYY-MM-DD`` (``None``: today, UTC) as a date.

    Raises:
        error: naming the text, with a hint that shows ``example``, when it is not a date.
    """
    if text is None:
        return datetime.now(timezone.utc).date()
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise error(f"run date '{text}' is not a date", f"write it as YYYY-MM-DD, e.g. {example}") from exc
