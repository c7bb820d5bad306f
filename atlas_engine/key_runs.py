"""Arrow batches ordered by a key column, cut into the runs of rows that share a key (one Parquet
object per partition or day from a single ordered scan)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from operator import itemgetter

import numpy as np
import pyarrow as pa


def key_runs(
    batches: Iterable[pa.RecordBatch], column: int
) -> Iterator[tuple[object, Iterator[pa.RecordBatch]]]:
    """``(key, its rows)`` for each run of consecutive rows with the same value in ``column``.

    Each run's batches must be consumed before the next run is taken (``itertools.groupby``)."""

    def slices() -> Iterator[tuple[object, pa.RecordBatch]]:
        for batch in batches:
            keys = batch.column(column).to_numpy(zero_copy_only=False)
            cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), batch.num_rows]
            for start, end in itertools.pairwise(cuts):
                key = keys[start]
                yield (key.item() if isinstance(key, np.generic) else key), batch.slice(start, end - start)

    for key, run in itertools.groupby(slices(), key=itemgetter(0)):
        yield key, (batch for _, batch in run)
