"""Write an MLflow model directory from model bytes, without unpickling them.

The directory is what ``mlflow.sklearn.log_model(model, serialization_format="cloudpickle")``
writes: ``MLmodel`` (python_function + sklearn flavors, a column signature from a
pandas input example), ``model.pkl``, ``input_example.json``, ``requirements.txt``,
``python_env.yaml`` and ``conda.yaml``. Versions in it are those of the environment
the model was fitted in (reported by the executor), not the driver's.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import yaml

from mlplatform.tracking.model_registry import MODEL_PICKLE

__all__ = ["write_model_dir", "requirements_from"]

_PIP_NAMES = {
    "scikit-learn": "scikit-learn",
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "cloudpickle": "cloudpickle",
    "pyarrow": "pyarrow",
}


def requirements_from(packages: dict[str, str | None], lock: Sequence[str] | None = None) -> list[str]:
    """``name==version`` lines: the environment lock when there is one, else the versions the executor reported."""
    if lock:
        return [line.strip() for line in lock if line.strip() and not line.strip().startswith("#")]
    return [
        f"{_PIP_NAMES[name]}=={version}" for name, version in sorted(packages.items()) if version and name in _PIP_NAMES
    ]


def write_model_dir(
    path: str | Path,
    model_bytes: bytes,
    input_example: Any,
    example_predictions: Sequence[Any],
    sklearn_version: str,
    python_version: str,
    requirements: Sequence[str],
    run_id: str | None = None,
) -> Path:
    """Create the MLflow model directory at ``path`` (which must not exist yet).

    Args:
        model_bytes: the cloudpickled fitted estimator, as the executor produced it.
        input_example: a small pandas frame of feature columns (gives the column signature).
        example_predictions: the model's predictions for ``input_example`` (gives the output schema).
        sklearn_version, python_version: of the environment the model was fitted in.
        requirements: pip lines for ``requirements.txt``.
    """
    import mlflow
    import numpy as np
    from mlflow import pyfunc
    from mlflow.models import Model, infer_signature
    from mlflow.models.utils import _save_example

    target = Path(path)
    target.mkdir(parents=True)
    (target / MODEL_PICKLE).write_bytes(model_bytes)
    model = Model(run_id=run_id)
    _save_example(model, input_example, str(target))
    with warnings.catch_warnings():  # the hint about integer columns and missing values
        warnings.simplefilter("ignore", UserWarning)
        model.signature = infer_signature(input_example, np.asarray(list(example_predictions)))
    pyfunc.add_to_model(
        model,
        loader_module="mlflow.sklearn",
        model_path=MODEL_PICKLE,
        conda_env="conda.yaml",
        python_env="python_env.yaml",
        predict_fn="predict",
    )
    model.add_flavor(
        "sklearn",
        pickled_model=MODEL_PICKLE,
        sklearn_version=sklearn_version,
        serialization_format="cloudpickle",
        code=None,
    )
    model.model_size_bytes = len(model_bytes)
    model.save(str(target / "MLmodel"))
    reqs = [f"mlflow=={mlflow.__version__}", *requirements]
    (target / "requirements.txt").write_text("\n".join(reqs) + "\n")
    python_env = {
        "python": python_version,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": ["-r requirements.txt"],
    }
    (target / "python_env.yaml").write_text(yaml.safe_dump(python_env, sort_keys=False))
    conda = {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version}", "pip", {"pip": reqs}],
    }
    (target / "conda.yaml").write_text(yaml.safe_dump(conda, sort_keys=False))
    return target
