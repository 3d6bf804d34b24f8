"""Writes real Spark event logs with pyspark, one application per format.

Run as a script (the JVM is slow to start, so one process writes all of them):
    python tests/ingest/spark_apps.py OUT_DIR
Formats: plain (one uncompressed file), zstd rolling (Spark 4's default directory), lz4 and
snappy (single compressed files).
"""

import sys
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

FORMATS = {
    "plain": {"spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"},
    "zstd-rolling": {
        "spark.eventLog.compress": "true",
        "spark.eventLog.rolling.enabled": "true",
        "spark.eventLog.compression.codec": "zstd",
    },
    "lz4": {
        "spark.eventLog.compress": "true",
        "spark.eventLog.rolling.enabled": "false",
        "spark.eventLog.compression.codec": "lz4",
    },
    "snappy": {
        "spark.eventLog.compress": "true",
        "spark.eventLog.rolling.enabled": "false",
        "spark.eventLog.compression.codec": "snappy",
    },
}


def boom(index, rows):
    if index == 3:
        raise ValueError("deliberate failure in partition 3")
    return rows


def run(out: Path, name: str, conf: dict[str, str]) -> None:
    directory = out / name
    directory.mkdir(parents=True)
    builder = (
        SparkSession.builder.master("local[2]")
        .appName(f"batchwatch-test-{name}")
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", directory.resolve().as_uri())
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.task.maxFailures", "1")
        .config("spark.batchwatch.namespace", "tests")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    df = spark.range(0, 10000).withColumn("k", F.col("id") % 7)
    df.groupBy("k").agg(F.count("*")).collect()
    if name != "plain":  # the plain app succeeds; the others have a failing job
        try:
            spark.sparkContext.parallelize(range(100), 4).mapPartitionsWithIndex(boom).count()
        except Exception as exc:
            print("expected failure:", type(exc).__name__)
    spark.stop()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for name, conf in FORMATS.items():
        run(out, name, conf)
    print("wrote", sorted(p.name for p in out.iterdir()))
