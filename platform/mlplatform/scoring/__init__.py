"""Batch scoring (Spark, mapInArrow), the online WSGI server and the Docker exporter."""
