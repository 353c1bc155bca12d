"""Metric tables as JSON and CSV files, as ``mot evaluate --json / --csv`` writes them.

A table maps each row (a sequence, or COMBINED) to its metrics; the tables of several
classes are keyed by class name (or COMBINED, their average).
"""
import csv
import json
from typing import Dict, Mapping

from ..files import atomic_write

# Metrics by row (sequence or COMBINED).
Table = Dict[str, Dict[str, object]]


def write_tables_json(path: str, tables: Mapping[str, Table]) -> None:
    """One table as it is, {row: {metric: value}}; several by class, {class: {row: {metric:
    value}}}. The file appears only once complete."""
    with atomic_write(path) as f:
        json.dump(tables if len(tables) > 1 else next(iter(tables.values())), f, indent=2)
        f.write("\n")


def write_tables_csv(path: str, tables: Mapping[str, Table]) -> None:
    """One line per row under a header of the metrics (None written empty); with several
    tables the class leads each line. The file appears only once complete."""
    by_class = len(tables) > 1
    keys = list(next(iter(next(iter(tables.values())).values())))
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class"] * by_class + ["sequence", *keys])
        for name, table in tables.items():
            for row_name, row in table.items():
                values = ["" if row[k] is None else row[k] for k in keys]
                writer.writerow([name] * by_class + [row_name, *values])
