"""Where the analyses run: DuckDB in process by default, Spark by configuration (decision 0016).

An analysis is an Ibis expression over `sightings` tables; this module turns lake files into
such tables on the chosen engine and an expression back into a Polars frame. Both engines read
the same Parquet files, and every frame comes back with the same dtypes (times in UTC
milliseconds), so the cross-engine test can compare answers row for row.

DuckDB gets a fresh in-memory connection per question (cheap, and nothing is shared between
threads). Spark's session is costly to start (about 4 s), so one per process is kept and each
question registers its files as temporary views it drops afterwards.
"""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa

from safecity.core.record import UTC_MS

# The columns an analysis reads, with the types both engines agree on. The lake keeps `cell` as
# UInt64, which Spark cannot hold: H3 indexes stay below 2**63, so Int64 loses nothing.
SIGHTING_COLUMNS: dict[str, str] = {
    "event_id": "string",
    "kind": "string",
    "subject_kind": "string",
    "subject": "string",
    "device": "string",
    "ts": "timestamp('UTC', 3)",
    "lat": "float64",
    "lon": "float64",
    "cell": "int64",
    "area": "string",
}
_ARROW_EMPTY = ibis.schema(SIGHTING_COLUMNS).to_pyarrow()


SHORT_LIST = 16  # values an `isin` may list before `one_of` makes them one array literal


class EngineKind(StrEnum):
    """The engines an analysis may run on."""

    DUCKDB = "duckdb"
    SPARK = "spark"


class Engine:
    """Runs Ibis expressions over lake files on one engine."""

    def __init__(self, kind: EngineKind = EngineKind.DUCKDB, *, spark_master: str = "local[2]") -> None:
        self.kind = EngineKind(kind)
        self.spark_master = spark_master
        self._spark: Any = None
        self._spark_lock = threading.Lock()
        self._views = itertools.count()
        self._local = threading.local()

    @contextmanager
    def session(self) -> Iterator[EngineSession]:
        """A connection for one question; its temporary tables go when it closes."""
        if self.kind is EngineKind.DUCKDB:
            # One connection per thread, kept: opening one costs more than a small question.
            con = getattr(self._local, "duckdb", None)
            if con is None:
                con = self._local.duckdb = ibis.duckdb.connect()
            session = EngineSession(self, con)
            try:
                yield session
            finally:
                for view in session.views:
                    con.con.execute(f'DROP VIEW IF EXISTS "{view}"')
                for table in session.tables:
                    con.con.execute(f'DROP TABLE IF EXISTS "{table}"')
                for name in session.registered:
                    con.con.unregister(name)
            return
        spark = self.spark()
        con = ibis.pyspark.connect(spark)
        session = EngineSession(self, con)
        try:
            yield session
        finally:
            for view in session.views:
                spark.catalog.dropTempView(view)

    def spark(self) -> Any:
        """The process's Spark session, started on first use."""
        with self._spark_lock:
            if self._spark is None:
                self._spark = start_spark(self.spark_master)
            return self._spark

    def view_name(self) -> str:
        """A temporary view name no other question of this process uses."""
        return f"safecity_sightings_{next(self._views)}"

    def close(self) -> None:
        """Stop the Spark session if one was started."""
        with self._spark_lock:
            if self._spark is not None:
                self._spark.stop()
                self._spark = None


def start_spark(master: str) -> Any:
    """A Spark session for analyses: UTC, quiet, and sized for a small machine unless told."""
    from pyspark.sql import SparkSession

    # PySpark 4.3 warns that pandas 3 is "not yet fully supported"; the analyses hand it no
    # pandas (Arrow only), and the cross-engine test is what tells whether answers agree.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    builder = (
        SparkSession.builder.master(master)
        .appName("safecity-workbench")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class EngineSession:
    """One question's connection: tables of lake files in, Polars frames out."""

    def __init__(self, engine: Engine, con: Any) -> None:
        self.engine = engine
        self.con = con
        self.views: list[str] = []  # temporary views and tables this question made
        self.tables: list[str] = []
        self.registered: list[str] = []

    def sightings(
        self, files: Sequence[Path | str], *, columns: Mapping[str, str] = SIGHTING_COLUMNS
    ) -> ir.Table:
        """The records of these lake files, as the analyses' columns and types (or `columns`:
        the forged-plate search reads `attrs` too)."""
        if not files:
            empty = _ARROW_EMPTY if columns is SIGHTING_COLUMNS else ibis.schema(columns).to_pyarrow()
            return ibis.memtable(pa.table({f.name: [] for f in empty}, schema=empty))
        paths = [str(f) for f in files]
        if self.engine.kind is EngineKind.DUCKDB:
            name = self.engine.view_name()
            self.con.con.read_parquet(paths).create_view(name)
            self.views.append(name)
            table = self.con.table(name)
        else:
            # Ibis's Spark backend takes a single path; Spark itself takes a list.
            name = self.engine.view_name()
            self.engine.spark().read.parquet(*paths).createOrReplaceTempView(name)
            self.views.append(name)
            table = self.con.table(name)
        return table.select(**{name: _as(table[name], kind) for name, kind in columns.items()})

    def table_of(self, rows: pa.Table) -> ir.Table:
        """Rows made here (a target's meeting places) as a table of this question."""
        name = self.engine.view_name()
        if self.engine.kind is EngineKind.DUCKDB:
            # Ibis 12's create_table from Arrow emits SQL DuckDB 2 refuses (DROP VIEW IF EXISTS
            # with no name); registering the Arrow table on the connection itself is the same.
            self.con.con.register(name, rows)
            self.registered.append(name)
            return self.con.table(name)
        self.engine.spark().createDataFrame(rows).createOrReplaceTempView(name)
        self.views.append(name)
        return self.con.table(name)

    def materialize(self, expr: ir.Table) -> ir.Table:
        """`expr` computed once into a temporary table of this question, for the steps after it.

        An analysis's first step (the sightings in its windows) is small next to the lake and
        read several times after; computing it once also keeps the expression Ibis compiles for
        the rest small (its rewrites grow with the graph: 0.1 s of a 0.2 s collision, profiled).
        """
        name = self.engine.view_name()
        if self.engine.kind is EngineKind.DUCKDB:
            self.tables.append(name)
            return self.con.create_table(name, expr, temp=True)
        # Ibis's Spark backend has no temporary tables: a cached view is one.
        self.engine.spark().sql(self.con.compile(expr)).cache().createOrReplaceTempView(name)
        self.views.append(name)
        return self.con.table(name)

    def frame(self, expr: ir.Table) -> pl.DataFrame:
        """Run `expr` and return its rows, times as UTC milliseconds."""
        frame = pl.from_arrow(expr.to_pyarrow())
        assert isinstance(frame, pl.DataFrame)
        return utc_ms(frame)


def _as(column: ir.Column, kind: str) -> ir.Column:
    """The column as `kind`, cast only when its type differs: a cast column in a filter keeps
    DuckDB from pushing the filter into the Parquet scan (measured: 0.40 against 0.29 s for a
    three-window collision over 10 M rows). Any timestamp precision is left as it is."""
    have = column.type()
    want = ibis.dtype(kind)
    if have == want or (have.is_timestamp() and want.is_timestamp()):
        return column
    return column.cast(want)


def epoch_s(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since 1970, the same on every engine.

    Ibis's `epoch_seconds` rounds on DuckDB (a read at .9 s counts as the next second) and
    truncates on Spark; truncating the time to the second first makes both truncate.
    """
    return ts.truncate("s").epoch_seconds().cast("int64")


def one_of(column: ir.StringColumn, values: Sequence[str]) -> ir.BooleanValue:
    """`column` is one of `values`: a long list as one array literal, not one node per value.

    Ibis rewrites its expression graph before compiling, and a case's 400 areas as 400 literals
    made that cost 0.3 s a question (profiled); one array literal costs nothing to compile.
    """
    unique = sorted(set(values))
    if len(unique) <= SHORT_LIST:
        return column.isin(unique)
    return ibis.literal(unique, type="array<string>").contains(column)


def utc_ms(frame: pl.DataFrame) -> pl.DataFrame:
    """Every time column as UTC milliseconds (Spark returns naive microseconds in its UTC session)."""
    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            column = pl.col(name)
            if dtype.time_zone is None:
                column = column.dt.replace_time_zone("UTC")
            fixes.append(column.cast(UTC_MS).alias(name))
    return frame.with_columns(fixes) if fixes else frame


__all__ = [
    "SIGHTING_COLUMNS",
    "Engine",
    "EngineKind",
    "EngineSession",
    "epoch_s",
    "one_of",
    "start_spark",
    "utc_ms",
]
