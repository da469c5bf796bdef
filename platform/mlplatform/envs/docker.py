"""The dependency layer of a Dockerfile, rendered from an environment's lock.

The scoring image then runs the same packages, at the same versions, as the
executors. The layer installs into ``/opt/mlp/env`` and puts it first on ``PATH``.
"""

from __future__ import annotations

from mlplatform.envs.artifacts import EnvArtifact, resolve

__all__ = ["dockerfile_dependency_layer", "docker_base_image", "ENV_DIR"]

ENV_DIR = "/opt/mlp/env"


def docker_base_image(artifact: "EnvArtifact | str") -> str:
    """An image the layer can sit on: the official Python image of the exact version, or micromamba for conda."""
    artifact = resolve(artifact)
    if artifact.builder == "conda":
        return "mambaorg/micromamba:2-debian12-slim"
    return f"python:{artifact.python_version}-slim"


def _continued(lines: list[str]) -> str:
    return " \\\n".join(lines)


def dockerfile_dependency_layer(artifact: "EnvArtifact | str") -> str:
    """Dockerfile lines (no ``FROM``) that install exactly the environment's lock.

    Example::

        FROM python:3.11.7-slim
        <dockerfile_dependency_layer("env:sklearn@0123456789ab")>
        COPY model/ /opt/model/
    """
    artifact = resolve(artifact)
    pins = [f"{name}=={version}" for name, version in sorted(artifact.packages.items())]
    pip = f"{ENV_DIR}/bin/python -m pip install --no-cache-dir --no-deps"
    header = [
        f"# Dependency layer of {artifact.id} ({artifact.builder}, Python {artifact.python_version}), from its lock.",
        f"# Base image: {docker_base_image(artifact)}",
        f'ENV MLP_ENV_ID="{artifact.id}" \\\n    VIRTUAL_ENV={ENV_DIR} \\\n    PATH="{ENV_DIR}/bin:$PATH"',
    ]
    if artifact.builder == "conda":
        conda = artifact.manifest.get("conda_packages", [])
        channels = sorted({pin.split("::")[0] for pin in conda})
        create = [f"RUN micromamba create --yes --prefix {ENV_DIR} --override-channels"]
        create += [f"        -c {channel}" for channel in channels] + [f"        {pin}" for pin in conda]
        steps = _continued(create)
        if pins:
            steps += " \\\n && " + _continued([pip] + [f"        {pin}" for pin in pins])
        steps += " \\\n && micromamba clean --all --yes"
    else:
        steps = f"RUN python -m venv {ENV_DIR} \\\n && " + _continued([pip] + [f"        {pin}" for pin in pins])
        steps += f" \\\n && {ENV_DIR}/bin/python -m pip check"
    return "\n".join(header + [steps]) + "\n"
