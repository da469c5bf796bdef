"""``mlp hadoop``: the one-machine Hadoop (HDFS + YARN) behind the ``yarn`` profile."""

from __future__ import annotations

import click

from mlplatform.cli.submit import parse_pairs

NOT_RUNNING = "Hadoop is not running — start it with: mlp hadoop up"


def _settings():  # type: ignore[no-untyped-def]
    from mlplatform.config import load_settings

    return load_settings()


def _describe(cluster) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        f"HDFS   {cluster.fs_default}    NameNode web: {cluster.namenode_http}",
        f"YARN   {cluster.resourcemanager}    ResourceManager web: {cluster.resourcemanager_http}",
        f"HADOOP_CONF_DIR={cluster.conf_dir}",
    ]


@click.group()
def hadoop() -> None:
    """A real HDFS NameNode + DataNode and YARN ResourceManager + NodeManager on this machine.

    Data lives in <home>/hadoop/data and survives down/up. The yarn Spark profile finds
    the running cluster by itself; `eval "$(mlp hadoop env)"` exports its settings for
    other tools.
    """


@hadoop.command()
@click.option("--nn-port", default=9000, show_default=True, help="NameNode RPC port (0: any free port).")
@click.option("--nn-http-port", default=9870, show_default=True, help="NameNode web / WebHDFS port.")
@click.option("--rm-port", default=8032, show_default=True, help="ResourceManager RPC port.")
@click.option("--rm-web-port", default=8088, show_default=True, help="ResourceManager web / REST port.")
@click.option("--set", "extra", multiple=True, metavar="KEY=VALUE", help="Extra Hadoop setting (repeatable).")
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for HDFS and YARN to answer.")
def up(nn_port: int, nn_http_port: int, rm_port: int, rm_web_port: int, extra: tuple[str, ...], timeout: float) -> None:
    """Start HDFS and YARN in the background and wait until both answer."""
    from mlplatform.launch import minicluster as local

    conf = parse_pairs(extra, "--set")
    ports = local.Ports(nn_port, nn_http_port, rm_port, rm_web_port)
    cluster, started = local.up(_settings(), ports, conf, timeout=timeout)
    if started:
        click.echo(f"Hadoop is up (pid {cluster.pid}, data in {cluster.data_dir})")
    else:
        click.echo(f"Hadoop is already running (pid {cluster.pid}); not starting another")
    for line in _describe(cluster):
        click.echo(line)


@hadoop.command()
def status() -> None:
    """Live DataNodes and NodeManagers, and the applications that have not finished."""
    from mlplatform.launch import minicluster as local

    state = local.status(_settings())
    if state is None:
        raise click.ClickException(NOT_RUNNING)
    click.echo(f"Hadoop is running (pid {state.cluster.pid}, data in {state.cluster.data_dir})")
    for line in _describe(state.cluster):
        click.echo(line)
    click.echo(f"live DataNodes: {state.live_datanodes}")
    click.echo(f"NodeManagers: {len(state.nodemanagers)}")
    for node in state.nodemanagers:
        used, avail = int(node["usedMemoryMB"]), int(node["availMemoryMB"])
        click.echo(
            f"  {node['id']}  {node['state']}  memory {used}/{used + avail} MB  "
            f"vcores {node['usedVirtualCores']}/{node['usedVirtualCores'] + node['availableVirtualCores']}  "
            f"containers {node['numContainers']}"
        )
    click.echo(f"applications running or waiting: {len(state.applications)}")
    for app in state.applications:
        click.echo(f"  {app['id']}  {app['state']}  {app['name']}  queue {app['queue']}  user {app['user']}")


@hadoop.command()
@click.option("--purge", is_flag=True, help="Also delete the HDFS data and the generated HADOOP_CONF_DIR.")
def down(purge: bool) -> None:
    """Stop HDFS, YARN and any container still running; no process is left behind."""
    from mlplatform.launch import minicluster as local

    settings = _settings()
    cluster = local.down(settings, purge=purge)
    leftover = local.leftover_processes(settings)
    if leftover:
        raise click.ClickException(f"processes still alive after stopping: {leftover}")
    if cluster is None:
        click.echo("Hadoop was not running" + (" (data purged)" if purge else ""))
    else:
        click.echo(
            f"Hadoop stopped (pid {cluster.pid})" + (", data purged" if purge else f"; data kept in {cluster.data_dir}")
        )


@hadoop.command()
@click.argument("app_id")
def logs(app_id: str) -> None:
    """Print the container logs (stdout, stderr) of a YARN application on this machine."""
    from mlplatform.launch import minicluster as local

    for path in local.container_logs(_settings(), app_id):
        if path.name in {"stdout", "stderr", "prelaunch.err"} and path.stat().st_size:
            click.echo(f"==> {path.parent.name}/{path.name} <==")
            click.echo(path.read_text(errors="replace"))


@hadoop.command()
def env() -> None:
    """Shell exports for the running cluster: eval "$(mlp hadoop env)"."""
    from mlplatform.launch import minicluster as local

    cluster = local.running(_settings())
    if cluster is None:
        raise click.ClickException(NOT_RUNNING)
    click.echo(f"export HADOOP_CONF_DIR={cluster.conf_dir}")
    click.echo(f"export MLP_HDFS_NAMENODE={cluster.fs_default}")
    click.echo(f"export MLP_WEBHDFS_URL={cluster.namenode_http}")
