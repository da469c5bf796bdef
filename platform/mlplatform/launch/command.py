"""A spark-submit invocation: its argument list and the environment it runs with."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

__all__ = ["SubmitCommand"]


@dataclass(frozen=True)
class SubmitCommand:
    """A spark-submit invocation: the argument list and the environment it needs."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        """A shell line a user can copy: environment assignments, then the command."""
        assigns = [f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items())]
        return " ".join(assigns + [shlex.quote(a) for a in self.argv])

    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}
