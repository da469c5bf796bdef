"""write_pandas(replace_where=...): deltalake replaces exactly the matching rows, like Spark's replaceWhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlplatform import tables
from mlplatform.errors import TableError


def test_replace_where_creates_then_replaces_only_the_matching_rows(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    day1 = pd.DataFrame({"day": ["d1", "d1"], "v": [1, 2]})
    tables.write_pandas(day1, table, replace_where="day = 'd1'")  # a new table: just written
    tables.write_pandas(pd.DataFrame({"day": ["d2"], "v": [3]}), table, replace_where="day = 'd2'")
    tables.write_pandas(pd.DataFrame({"day": ["d1"], "v": [9]}), table, replace_where="day = 'd1'")
    rows = tables.to_pandas(table).sort_values(["day", "v"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, pd.DataFrame({"day": ["d1", "d2"], "v": [9, 3]}))
    with pytest.raises(TableError, match=r"rows of the DataFrame do not match replace_where \"day = 'd1'\""):
        tables.write_pandas(pd.DataFrame({"day": ["d3"], "v": [1]}), table, replace_where="day = 'd1'")
    with pytest.raises(TableError, match=r"replace_where for table .* must be a SQL predicate string"):
        tables.write_pandas(day1, table, replace_where=" ")
