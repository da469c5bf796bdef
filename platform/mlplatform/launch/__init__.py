"""Starting work on Spark and YARN: everything between a job and a running application.

From the bottom up: :mod:`~mlplatform.launch.java` (Java discovery),
:mod:`~mlplatform.launch.jars` (Delta and Hadoop jars fetched with Maven),
:mod:`~mlplatform.launch.zips` (the platform's code as ``--py-files``),
:mod:`~mlplatform.launch.profiles` (``conf/spark/*.conf`` and the Spark distribution),
:mod:`~mlplatform.launch.minicluster` (the one-machine Hadoop and its Java launcher),
:mod:`~mlplatform.launch.command` and :mod:`~mlplatform.launch.yarn` (any YARN cluster: conf,
capacity checks, HDFS content cache, application watch),
:mod:`~mlplatform.launch.cluster_mode` (what the driver needs when YARN runs it),
:mod:`~mlplatform.launch.slots` (how many tasks a session's conf runs at once),
:mod:`~mlplatform.launch.session` (an in-process SparkSession) and
:mod:`~mlplatform.launch.submit` (the spark-submit line of a job). docs/architecture.md
draws the whole package.
"""
