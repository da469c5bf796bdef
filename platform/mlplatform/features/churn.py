"""Transforms of the churn demo's feature sets (named in ``conf/features/*.yaml``).

Each takes the source tables as Spark DataFrames (keyword arguments named as in
the definition's ``source.tables``) and returns one row per entity and event
time with the declared columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["activity_rollups", "support_history"]

_DAY = 86_400


def activity_rollups(activity: "DataFrame") -> "DataFrame":
    """Per customer and active day: 7- and 30-day activity totals and their trend."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t = F.unix_seconds(F.col("event_time"))
    by_customer = Window.partitionBy("customer_id").orderBy(t)
    last = {n: by_customer.rangeBetween(-n * _DAY + 1, 0) for n in (7, 30)}
    logins_7d = F.sum("logins").over(last[7])
    logins_30d = F.sum("logins").over(last[30])
    return activity.select(
        "customer_id",
        "event_time",
        logins_7d.cast("bigint").alias("logins_7d"),
        logins_30d.cast("bigint").alias("logins_30d"),
        F.count(F.lit(1)).over(last[30]).cast("int").alias("active_days_30d"),
        F.round(F.sum("txn_amount").over(last[30]), 2).alias("txn_amount_30d"),
        F.round(F.avg("minutes").over(last[30]), 2).alias("avg_minutes_30d"),
        # share of the last 30 days' logins that fell in the last 7: ~0.23 when steady
        F.round(logins_7d / logins_30d, 4).alias("recent_share"),
        ((t - F.lag(t).over(by_customer)) / _DAY).cast("double").alias("days_since_prev"),
    )


def support_history(source: "DataFrame") -> "DataFrame":
    """Per support contact: 90-day contact and complaint counts, the contact's channel and CSAT.

    ``known_at`` is the latest ``logged_at`` among the contacts counted, so a
    row counts only once every contact it summarizes had reached the warehouse.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t = F.unix_seconds(F.col("contact_time"))
    last_90 = Window.partitionBy("customer_id").orderBy(t).rangeBetween(-90 * _DAY + 1, 0)
    return source.select(
        "customer_id",
        "contact_time",
        F.max("logged_at").over(last_90).alias("known_at"),
        F.count(F.lit(1)).over(last_90).cast("int").alias("contacts_90d"),
        F.sum(F.col("complaint").cast("int")).over(last_90).cast("int").alias("complaints_90d"),
        F.round(F.avg("csat").over(last_90), 2).alias("avg_csat_90d"),
        F.col("channel").alias("last_channel"),
    )
