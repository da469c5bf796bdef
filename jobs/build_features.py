"""spark-submit driver: materialize registered feature sets into <warehouse>/features/<name>.

Each set is checked against its definition before its one commit; a failed check
exits 1 with the reason, leaving that table unchanged.
"""

from __future__ import annotations

import argparse

from mlplatform.features.ingestion import ingest_job
from mlplatform.launch import jobrun


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_features", description=__doc__)
    parser.add_argument("--name", action="append", default=[], help="feature set to ingest (repeatable)")
    parser.add_argument("--all", action="store_true", help="every registered feature set")
    parser.add_argument("--mode", choices=["merge", "append", "overwrite"], default=None)
    parser.add_argument("--summary", default=None, help="write the result (or the error) here as JSON")
    args = parser.parse_args(argv)
    if not args.name and not args.all:
        parser.error("pass --name NAME (repeatable) or --all")
    return jobrun.run("build_features", lambda: ingest_job(args.name, every=args.all, mode=args.mode), args.summary)


if __name__ == "__main__":
    raise SystemExit(main())
