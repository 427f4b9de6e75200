"""The batch as one table, a row per drive: ``results.parquet`` and ``results.csv`` in the out dir.

The schema is fixed, so a column keeps its type even when every drive of a batch leaves it empty
(``pandas.read_parquet`` / ``read_csv`` load either file directly).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import require

RESULTS = "results"
_COLUMNS = (  # name, arrow type
    ("drive", "string"), ("source", "string"), ("status", "string"), ("error", "string"),
    ("frames", "int64"), ("dropped", "int64"), ("duration_s", "float64"), ("fps", "float64"),
    ("wall_s", "float64"), ("warnings", "int64"), ("cautions", "int64"),
    ("light_changes", "int64"), ("first_warning_s", "float64"), ("warning_times_s", "string"),
    ("key", "string"), ("config_sha256", "string"), ("model", "string"),
    ("model_sha256", "string"), ("backend", "string"), ("fcw_version", "string"),
    ("worker", "string"), ("finished_at", "string"),
)


def summary_line(s: dict[str, Any]) -> str:
    """A drive in one line: the per-drive report of ``fcw batch``."""
    status = "ok" if s.get("status") == "ok" else "FAILED"
    err = f"error: {s['error']}" if s.get("error") else "no errors"
    return (f"{status:6} {s['drive']}  {s.get('frames', 0)} frames, {s.get('fps', 0.0):.1f} fps, "
            f"{s.get('warnings', 0)} warnings, {s.get('cautions', 0)} cautions, "
            f"{s.get('light_changes', 0)} light changes, {err}")


def _row(s: dict[str, Any]) -> dict[str, Any]:
    row = {name: s.get(name) for name, _ in _COLUMNS}
    row["warning_times_s"] = " ".join(f"{t:g}" for t in s.get("warning_times_s") or ())
    return row


def write_table(summaries: Sequence[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    pa = require("pyarrow")
    pq, pcsv = require("pyarrow.parquet"), require("pyarrow.csv")
    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in _COLUMNS])
    table = pa.Table.from_pylist([_row(s) for s in summaries], schema=schema)
    paths = (Path(out) / f"{RESULTS}.parquet", Path(out) / f"{RESULTS}.csv")
    for path, write in zip(paths, (pq.write_table, pcsv.write_csv)):
        tmp = path.with_name(f".{path.name}.tmp")
        write(table, str(tmp))
        os.replace(tmp, path)  # a reader never sees half a table
    return paths
