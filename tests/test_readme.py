"""The README's examples: its ``mlp`` lines name real commands and options, and its examples run.

- Every line in a README code block that starts with ``mlp`` is resolved against the CLI:
  its command path must exist and every ``--option`` it uses must be accepted by that
  command (click introspection, no process).
- Every ``python`` block and every shell block (``bash``, ``sh``, ``console``) made of
  ``mlp`` commands runs, in README order, in one subprocess against one small platform
  home (``MLP_HOME`` in a temporary folder, ``MLP_PROJECT`` this repository, the working
  directory a temporary folder). Before the first block that subprocess makes the demo
  state the examples talk about, as ``scripts/demo`` does but smaller and in one JVM: the
  seeded raw tables (size ``tiny``), every feature set registered and ingested,
  ``ts:churn@v0``, ``model:churn@1`` (a one-trial search in the ``sklearn`` environment,
  promoted to champion) and ``scores:churn@v0`` (run date 2024-06-01). The ``sklearn``
  environment comes from the cache the training tier builds it in.
- A block that cannot run on the embedded default (a cluster, Docker, local-cluster, a long
  job, side effects outside the home) is preceded in the README by
  ``<!-- readme: skip (REASON) -->`` and its test is skipped with that reason; the imports
  of a skipped Python block, and the module attributes it uses, are still checked. A shell
  block that is neither made of ``mlp`` commands nor marked is an error, and so is a README
  without any block to run.

``python tests/test_readme.py PLAN RESULTS`` is the subprocess: it runs the blocks listed
in the JSON file PLAN and writes each block's outcome to RESULTS as it goes.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import REPO

SHELLS = {"bash", "sh", "shell", "console"}
FENCE = re.compile(
    r"(?:<!--\s*readme:\s*skip\s*\((?P<skip>[^\n]*)\)\s*-->[ \t]*\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S
)
MARKER = re.compile(r"<!--\s*readme:")
# The demo environment (envs/sklearn.yaml): built once per machine in the training tier's cache.
ENV_CACHE = REPO / ".mlp" / "test-cache" / "training-envs"
RUN_DATE = "2024-06-01"  # the run date the setup scores, which the README's examples read
TIMEOUT = 3600


@dataclass(frozen=True)
class Block:
    line: int  # line of the opening fence in README.md
    lang: str
    body: str
    skip: str | None  # reason from <!-- readme: skip (REASON) -->

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang}"

    @property
    def commands(self) -> list[tuple[str, int]]:
        """Shell blocks: (command, expected exit code); a console block's ``$ echo $?`` gives the code."""
        text = self.body.replace("\\\n", " ")
        if self.lang != "console":
            lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            return [(ln.strip(), 0) for ln in lines]
        out: list[tuple[str, int]] = []
        lines = text.splitlines()
        for i, raw in enumerate(lines):
            if not raw.startswith("$ "):
                continue
            command = raw[2:].strip()
            if command == "echo $?" and out:
                shown = lines[i + 1].strip() if i + 1 < len(lines) else "0"
                out[-1] = (out[-1][0], int(shown) if shown.isdigit() else 0)
            else:
                out.append((command, 0))
        return out

    @property
    def is_mlp(self) -> bool:
        """A shell block whose every command is an ``mlp`` command."""
        commands = self.commands
        return bool(commands) and all(c == "mlp" or c.startswith("mlp ") for c, _ in commands)

    @property
    def example(self) -> bool:
        """Python and shell blocks are examples; yaml and text blocks are not run."""
        return self.lang == "python" or self.lang in SHELLS

    @property
    def runs(self) -> bool:
        return self.example and self.skip is None and (self.lang == "python" or self.is_mlp)


def _blocks() -> list[Block]:
    text = (REPO / "README.md").read_text()
    return [
        Block(text.count("\n", 0, m.start("lang")) + 1, m["lang"], m["body"], m["skip"] and m["skip"].strip())
        for m in FENCE.finditer(text)
    ]


BLOCKS = _blocks()
EXAMPLES = [b for b in BLOCKS if b.example]


# --- the mlp lines of every block, checked against the CLI -------------------------------------------------------


def _mlp_lines() -> list[str]:
    lines = []
    for block in BLOCKS:
        for raw in block.body.replace("\\\n", " ").splitlines():  # shell line continuations
            line = raw.split(" #")[0].strip().removeprefix("$ ")
            if line.startswith("mlp ") or line == "mlp":
                lines.extend(_alternatives(line))
    return sorted(set(lines))


def _alternatives(line: str) -> list[str]:
    """``mlp g a X | b Y`` -> ``mlp g a X`` and ``mlp g b Y``."""
    parts = [p.strip() for p in line.split(" | ")]
    if len(parts) == 1:
        return parts
    prefix = parts[0].split()[:-1]
    return [parts[0]] + [" ".join(prefix + [p]) for p in parts[1:]]


def _resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    from mlplatform.cli.main import cli

    command: click.Command = cli
    ctx = click.Context(cli)
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            break
        command, rest = sub, rest[1:]
    return command, rest


def _options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


def test_readme_shows_cli_examples():
    assert len(_mlp_lines()) >= 20


@pytest.mark.parametrize("line", _mlp_lines())
def test_readme_command_exists_with_its_options(line: str):
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))[1:]
    from mlplatform.cli.main import cli

    root_opts = _options(cli)
    while words and words[0] in root_opts:
        words = words[2:] if words[0] == "--conf" else words[1:]
    command, rest = _resolve(words)
    assert command is not cli or not words or words[0].startswith("-"), f"unknown command in README: {line}"
    opts = _options(command)
    for word in rest:
        if not word.startswith("-") and command.context_settings.get("allow_interspersed_args") is False:
            break  # the rest belongs to the job (mlp submit JOB ARGS...)
        if word.startswith("--"):
            assert word.split("=")[0] in opts, f"README uses {word} which `{command.name}` does not accept: {line}"


# --- which examples run ------------------------------------------------------------------------------------------


def test_readme_has_examples_to_run():
    assert any(b.runs for b in EXAMPLES), "no README block runs: every python/mlp block is marked skip"


def test_readme_skip_markers_stand_before_a_block():
    text = (REPO / "README.md").read_text()
    assert len(MARKER.findall(text)) == sum(1 for b in BLOCKS if b.skip), (
        "a <!-- readme: ... --> marker is malformed or not just before a fenced block: "
        "write <!-- readme: skip (REASON) --> on the line before the opening fence"
    )
    assert all(b.skip for b in BLOCKS if b.skip is not None), "a skip marker without a reason"


def test_readme_shell_blocks_run_or_say_why_not():
    unmarked = [b.id for b in EXAMPLES if b.lang in SHELLS and not b.is_mlp and b.skip is None]
    assert not unmarked, f"shell blocks that are not mlp commands need <!-- readme: skip (REASON) -->: {unmarked}"


def _check_imports(body: str) -> None:
    """Run a block's imports and check every ``module.name`` it uses exists (stale module paths, renamed APIs)."""
    tree = ast.parse(body)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=imports, type_ignores=[]), "<readme imports>", "exec"), namespace)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = namespace.get(node.value.id)
            if isinstance(module, type(ast)):
                assert hasattr(module, node.attr), f"{node.value.id}.{node.attr} does not exist"


# --- running them ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    results: dict[str, dict[str, Any]]
    setup_seconds: float | None
    seconds: float
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run every runnable block once, in README order, in one subprocess against one small home."""
    root = tmp_path_factory.mktemp("readme")
    work = root / "work"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLP_") and k not in {"PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "MLFLOW_TRACKING_URI"}
    }
    env.update(
        MLP_PROJECT=str(REPO),
        MLP_HOME=str(root / ".mlp"),
        MLP_ARTIFACTS=str(ENV_CACHE / "home" / "artifacts"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    plan, results, log = root / "plan.json", root / "results.json", root / "runner.log"
    plan.write_text(json.dumps([asdict(b) for b in EXAMPLES if b.runs]))
    start = time.monotonic()
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, __file__, str(plan), str(results)],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
        )
    done = json.loads(results.read_text()) if results.is_file() else {}
    setup = done.pop("setup", {})
    return Run(done, setup.get("seconds"), time.monotonic() - start, log)


def _param(block: Block) -> Any:
    return pytest.param(block, id=block.id, marks=[pytest.mark.slow] if block.runs else [])


@pytest.mark.parametrize("block", [_param(b) for b in EXAMPLES])
def test_readme_example(block: Block, request: pytest.FixtureRequest):
    if block.lang == "python":
        _check_imports(block.body)
    if block.skip:
        pytest.skip(f"README.md:{block.line}: {block.skip}")
    if not block.runs:
        pytest.fail(f"README.md:{block.line}: not an mlp block; mark it <!-- readme: skip (REASON) -->")
    run: Run = request.getfixturevalue("readme_run")
    result = run.results.get(block.id)
    if result is None:
        setup = "" if run.setup_seconds is not None else "the demo setup did not finish; "
        pytest.fail(f"README.md:{block.line} never ran ({setup}runner log):\n{run.tail()}")
    assert result["ok"], f"README.md:{block.line} ({block.lang}) failed:\n{result['error']}\n{result['output'][-3000:]}"


@pytest.mark.slow
def test_readme_examples_summary(readme_run: Run, capsys: pytest.CaptureFixture[str]):
    """Says how many examples ran and why the others were skipped; fails when none ran."""
    ran = [b for b in EXAMPLES if b.runs]
    skipped = Counter(b.skip for b in EXAMPLES if b.skip)
    passed = sum(1 for b in ran if readme_run.results.get(b.id, {}).get("ok"))
    setup = f"{readme_run.setup_seconds:.0f} s" if readme_run.setup_seconds is not None else "unfinished"
    lines = [
        f"README examples: {len(ran)} run ({passed} passed), {sum(skipped.values())} skipped; "
        f"{readme_run.seconds:.0f} s in all, demo setup {setup}",
        *(f"  ran     {b.id}: {readme_run.results.get(b.id, {}).get('seconds', 0):.1f} s" for b in ran),
        *(f"  skipped {n} x {reason}" for reason, n in skipped.items()),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert ran and passed == len(ran), "\n".join(lines)


# --- the subprocess ----------------------------------------------------------------------------------------------


def _quick_churn_spec() -> Any:
    """conf/models/churn.yaml with a one-trial grid on two folds and a low bar: model:churn@1, cheaply."""
    import yaml

    from mlplatform.training.spec import load_spec

    data = yaml.safe_load((REPO / "conf" / "models" / "churn.yaml").read_text())
    data.update(
        search={"strategy": "grid", "space": {"model__max_leaf_nodes": [16]}},
        cv={"folds": 2, "stratified": True, "seed": 0},
        metrics={"primary": "roc_auc", "thresholds": ["roc_auc >= 0.5"]},
    )
    return load_spec(data={"name": "churn", **data})


def _demo_state() -> None:
    """What scripts/demo leaves for the examples, smaller and in this one process (one JVM)."""
    from mlplatform import envs, features
    from mlplatform.config import load_settings
    from mlplatform.features.datagen import write_raw_tables
    from mlplatform.launch.session import session
    from mlplatform.lifecycle import models
    from mlplatform.scoring.batch import score
    from mlplatform.training.train import train

    settings = load_settings()
    write_raw_tables(settings, size="tiny")
    definitions = features.load_feature_sets()
    features.apply(settings, definitions)
    spark = session(app_name="mlp-readme", settings=settings, env=envs.build("sklearn", settings))
    for definition in definitions:
        features.ingest(spark, settings, definition.name)
    features.build_trainset("churn", settings)
    result = train(_quick_churn_spec(), settings, spark=spark, code_version="readme")
    assert result.version == 1, result
    models.promote("churn", 1, settings, reason="README examples")
    score(spark, settings, "churn@champion", "training_sets/churn", RUN_DATE, keys=["customer_id", "label_time"])


def _run_python(block: dict[str, Any], output: io.StringIO) -> None:
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        exec(compile(block["body"], f"README.md:{block['line']}", "exec"), {"__name__": "__readme__"})


def _run_shell(block: dict[str, Any], output: io.StringIO) -> None:
    for command, expected in Block(**block).commands:
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=900)
        output.write(f"$ {command}\n{done.stdout}{done.stderr}")
        if done.returncode != expected:
            raise AssertionError(f"`{command}` exited {done.returncode}, the README expects {expected}")


def _main(plan_file: str, results_file: str) -> int:
    """Make the demo state, then run each planned block in order; write the outcomes after each step."""
    results: dict[str, dict[str, Any]] = {}
    out = Path(results_file)

    def record(key: str, started: float, error: str, output: str = "") -> None:
        results[key] = {"ok": not error, "error": error, "output": output, "seconds": time.monotonic() - started}
        out.write_text(json.dumps(results, indent=1))
        print(f"[readme] {key}: {'ok' if not error else 'FAILED'} in {results[key]['seconds']:.1f} s", flush=True)
        if error:
            print(error + output[-3000:], flush=True)

    started = time.monotonic()
    try:
        _demo_state()
    except Exception:  # noqa: BLE001 - reported, and no block runs without the demo state
        record("setup", started, traceback.format_exc())
        return 1
    record("setup", started, "")
    for block in json.loads(Path(plan_file).read_text()):
        key, output, started, error = Block(**block).id, io.StringIO(), time.monotonic(), ""
        try:
            (_run_python if block["lang"] == "python" else _run_shell)(block, output)
        except (Exception, SystemExit):  # noqa: BLE001 - the block's failure is its test's failure
            error = traceback.format_exc()
        record(key, started, error, output.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:3]))
