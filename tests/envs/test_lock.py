"""Locks: exact versions resolved by pip under the target interpreter, reused while the spec is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplatform import envs
from mlplatform.envs.interpreters import find_python
from mlplatform.envs.lock import lock_path, read_lock
from mlplatform.errors import EnvError


def _spec(tmp_path: Path, packages: str, python: str = "3.11", name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f'name: {name}\npython: "{python}"\npackages: {packages}\n')
    return path


def _no_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make any pip resolution or download fail from here on."""
    empty = tmp_path / "no-wheels"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))


@pytest.mark.slow
def test_lock_pins_everything_adds_arrow_packages_and_is_reused(tmp_path, monkeypatch):
    spec = _spec(tmp_path, '["cloudpickle==3.1.2", "numpy<2.3", "pandas<3", "pyarrow"]')
    first = envs.lock(spec)
    assert first.path == lock_path(spec) and first.path.is_file()
    assert first.packages["cloudpickle"] == "3.1.2"
    assert first.packages["numpy"].startswith(("2.0", "2.1", "2.2", "1."))
    assert {"python-dateutil", "tzdata"} <= set(first.packages)  # pandas' own dependencies are pinned too
    assert first.added == ()
    assert first.python_version == find_python("3.11").version
    assert read_lock(first.path, "tiny") == first

    _no_index(monkeypatch, tmp_path)
    again = envs.lock(spec)
    assert again == first

    spec.write_text(spec.read_text().replace("cloudpickle==3.1.2", "cloudpickle==3.1.1"))
    with pytest.raises(EnvError, match="pip failed"):
        envs.lock(spec)  # a changed spec is resolved again (and pip has no index now)
    assert read_lock(first.path, "tiny") == first  # the old lock is untouched


@pytest.mark.slow
def test_missing_arrow_packages_are_added_and_reported(tmp_path):
    spec = _spec(tmp_path, '["cloudpickle"]')
    env_lock = envs.lock(spec)
    assert sorted(r.split(">")[0] for r in env_lock.added) == ["numpy", "pandas", "pyarrow"]
    assert {"numpy", "pandas", "pyarrow"} <= set(env_lock.packages)
    assert "# added: " in env_lock.path.read_text()


@pytest.mark.slow
def test_unresolvable_version_is_a_clear_error_and_writes_no_lock(tmp_path):
    spec = _spec(tmp_path, '["scikit-learn==0.0.999", "pandas", "pyarrow", "numpy"]')
    with pytest.raises(EnvError, match=r"resolving environment 'tiny': pip failed: .*scikit-learn==0.0.999"):
        envs.lock(spec)
    assert not lock_path(spec).exists()


def test_python_version_not_available(tmp_path):
    spec = _spec(tmp_path, '["numpy", "pandas", "pyarrow"]', python="3.99")
    with pytest.raises(EnvError, match=r"Python 3.99 is not available on this machine") as err:
        envs.lock(spec)
    assert "builder: conda" in (err.value.hint or "")
    assert not lock_path(spec).exists()


def test_exact_patch_version_is_honoured(tmp_path):
    version = find_python("3.11").version
    assert find_python(version).version == version
    with pytest.raises(EnvError, match="Python 3.11.99 is not available"):
        find_python("3.11.99")


def test_hand_edited_lock_is_refused(tmp_path):
    spec = _spec(tmp_path, '["numpy", "pandas", "pyarrow"]')
    lock_path(spec).write_text("# spec-sha256: x\n# python: 3.11.7\n# builder: venv\nnumpy>=1\n")
    with pytest.raises(EnvError, match="is not an exact pin"):
        envs.lock(spec)


def test_lock_made_with_a_python_missing_here_points_to_relock(tmp_path, settings):
    from mlplatform.envs.spec import load_spec

    spec = _spec(tmp_path, '["numpy==2.2.6", "pandas==2.3.3", "pyarrow==21.0.0"]')
    digest = load_spec(spec).digest()
    lock_path(spec).write_text(f"# spec-sha256: {digest}\n# python: 3.11.99\n# builder: venv\nnumpy==2.2.6\n")
    with pytest.raises(EnvError, match=r"Python 3.11.99 is not available.*the lock of 'tiny' was made with it") as err:
        envs.build(spec, settings)
    assert "mlp env lock tiny --refresh" in (err.value.hint or "")
    assert not (Path(settings.artifacts) / "envs").exists()
