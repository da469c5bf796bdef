"""Python workers cache the decoded training data per broadcast, never across searches."""

from __future__ import annotations

import pandas as pd

from mlplatform.training import executor


def test_a_new_broadcast_is_decoded_even_where_the_old_bytes_lived() -> None:
    first = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    second = pd.DataFrame({"x": [7.0, 8.0, 9.0], "y": [1, 1, 0]})
    # One buffer reused for both searches: what the id() of unpickled bytes can amount to on a reused worker.
    buffer = bytearray(executor.encode_frame(first))
    assert executor._frame_of({"data": buffer, "data_id": "search-1"})["x"].tolist() == [1.0, 2.0, 3.0]
    buffer[:] = executor.encode_frame(second)
    assert executor._frame_of({"data": buffer, "data_id": "search-2"})["x"].tolist() == [7.0, 8.0, 9.0]
    assert executor._frame_of({"data": b"not read again", "data_id": "search-2"})["y"].tolist() == [1, 1, 0]
