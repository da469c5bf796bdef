"""The platform's spark-submit drivers, installed as ``mlplatform.jobs`` (``mlp submit NAME`` finds them)."""
