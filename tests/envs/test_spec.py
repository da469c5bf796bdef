"""Environment specs: validation with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplatform import envs
from mlplatform.envs.spec import missing_arrow_packages
from mlplatform.errors import EnvError


def _spec(tmp_path: Path, body: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(body)
    return path


def test_shipped_sklearn_spec_is_valid_and_differs_from_the_driver():
    from importlib import metadata

    spec = envs.load_spec("sklearn")
    assert spec.python == "3.11" and spec.builder == "portable"
    pins = dict(p.split("==") for p in spec.packages if "==" in p)
    assert pins["scikit-learn"] != metadata.version("scikit-learn")
    assert {"pandas", "pyarrow", "numpy", "cloudpickle"} <= spec.package_names()
    assert missing_arrow_packages(spec) == []


def test_unknown_key_is_named(tmp_path):
    path = _spec(tmp_path, 'name: demo\npython: "3.11"\npackages: [numpy]\npackges: [pandas]\n')
    with pytest.raises(EnvError, match=r"unknown key 'packges'") as err:
        envs.load_spec(path)
    assert str(path) in err.value.message
    assert "known keys are" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("name: demo\npython: 3.11\n", "quote it"),
        ('name: demo\npython: "2.7"\n', "python"),
        ("name: demo\npackages: [numpy]\n", "missing key 'python'"),
        ('name: demo\npython: "3.11"\npackages: ["numpy>>1"]\n', "is not a pip requirement"),
        ('name: demo\npython: "3.11"\npackages: [numpy, NumPy==2.0]\n', "repeats the package"),
        ('name: demo\npython: "3.11"\nconda_packages: [numpy]\n', "only used with builder: conda"),
        ('name: demo\npython: "3.11"\nbuilder: conda\n', "needs at least one channel"),
        ('name: other\npython: "3.11"\n', "declares name 'other'"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_specs_are_clear_errors(tmp_path, body, expected):
    with pytest.raises(EnvError, match=expected):
        envs.load_spec(_spec(tmp_path, body))


def test_unknown_name_lists_known_specs():
    with pytest.raises(EnvError, match="has no spec") as err:
        envs.load_spec("no-such-env")
    assert "sklearn" in (err.value.hint or "")


def test_arrow_packages_are_reported_missing(tmp_path):
    spec = envs.load_spec(_spec(tmp_path, 'name: demo\npython: "3.11"\npackages: [scikit-learn, Pandas<3]\n'))
    assert sorted(r.name for r in missing_arrow_packages(spec)) == ["numpy", "pyarrow"]


def test_digest_ignores_description_and_order_but_not_versions(tmp_path):
    a = envs.load_spec(_spec(tmp_path, 'name: demo\npython: "3.11"\npackages: [numpy, pandas]\ndescription: one\n'))
    b = envs.load_spec(_spec(tmp_path, 'name: demo\npython: "3.11"\npackages: [pandas, numpy]\nowner: me\n'))
    c = envs.load_spec(_spec(tmp_path, 'name: demo\npython: "3.11"\npackages: [pandas, numpy<2]\n'))
    assert a.digest() == b.digest() != c.digest()


def test_conda_spec_names_conda_and_pip_packages(tmp_path):
    spec = envs.load_spec(
        _spec(
            tmp_path,
            'name: demo\npython: "3.11"\nbuilder: conda\nchannels: [conda-forge]\n'
            'conda_packages: ["conda-forge::numpy>=1.26", "pandas 2.2.*"]\npackages: [pyarrow]\n',
        )
    )
    assert spec.package_names() == {"numpy", "pandas", "pyarrow"}
