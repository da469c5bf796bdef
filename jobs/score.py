"""spark-submit driver (``mlp score`` submits it): score a model into <warehouse>/scores/<model>.

    score MODEL@VERSION --run-date D [--input TABLE | --entities TABLE] [--summary FILE]

With ``--input`` it scores a prepared table; without, the model's own features from the
feature repository as known at the end of the run date (``--as-of``), for ``--entities``
or every entity within TTL. The arguments are :func:`mlplatform.scoring.job.parser`'s.
Exit 0, else the platform error's exit code; ``--summary FILE`` gets one JSON object either way.
"""

from __future__ import annotations

from mlplatform.launch import jobrun
from mlplatform.scoring import job


def main(argv: list[str] | None = None) -> int:
    args = job.parser().parse_args(argv)
    return jobrun.run("score", lambda: job.run(job.request_of(args)), args.summary)


if __name__ == "__main__":
    raise SystemExit(main())
