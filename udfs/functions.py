"""The SQL functions: vectorized Arrow UDFs over the batch kernels.

DuckDB hands each call at most 2048 rows as Arrow arrays (NULL rows already filtered out: a
NULL vector gives a NULL result). Each call groups rows by model reference (almost always a
single constant), converts the ``FLOAT[]`` column to a float32 matrix without copying per row,
runs the kernel and returns an Arrow array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from duckdb import sqltypes as st

from training.artifact import TrainedModel
from training.data import arrow_to_matrix
from udfs import kernels
from udfs.kernels import FeatureVectorError
from udfs.store import ModelStore

FLOAT_LIST = duckdb.list_type(st.FLOAT)


def _single(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def vectors_to_matrix(model: TrainedModel, vectors: pa.Array) -> np.ndarray:
    """A ``FLOAT[]`` Arrow column -> float32 ``(n, d)``; every list must have length ``d``."""
    d = model.input_dim
    if pa.types.is_fixed_size_list(vectors.type):
        lengths_ok = vectors.type.list_size == d
        bad_len = vectors.type.list_size
    else:
        lengths = pc.list_value_length(vectors)
        lo, hi = pc.min_max(lengths).values()
        lengths_ok = lo.as_py() == d and hi.as_py() == d
        bad_len = hi.as_py() if hi.as_py() != d else lo.as_py()
    if not lengths_ok:
        raise FeatureVectorError(
            f"{model.ref} expects feature vectors of length {d} "
            f"[{', '.join(model.feature_names)}], got a vector of length {bad_len}; build the "
            f"vector with the dbt macro ae_features('{model.name}') so it follows the model's "
            "recorded feature order"
        )
    return arrow_to_matrix(vectors, d)


def _list_array(values: np.ndarray) -> pa.Array:
    """``(n, k)`` -> Arrow ``list<float>`` of n lists of length k."""
    n, k = values.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1).astype(np.float32)))


Kernel = Callable[[TrainedModel, np.ndarray], np.ndarray]


def _by_model(
    store: ModelStore, models: pa.Array, run: Callable[[TrainedModel, pa.Array], pa.Array],
    vectors: pa.Array,
) -> pa.Array:
    """Apply ``run`` per distinct model reference, keeping row order."""
    first = models[0].as_py()
    if len(models) == 1 or pc.all(pc.equal(models, first)).as_py():
        return run(store.get(first), vectors)
    refs = np.asarray(models.to_pylist(), dtype=object)
    parts, order = [], []
    for ref in dict.fromkeys(refs.tolist()):
        idx = np.nonzero(refs == ref)[0]
        parts.append(run(store.get(ref), vectors.take(pa.array(idx))))
        order.append(idx)
    perm = np.concatenate(order)
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(len(perm))
    return pa.concat_arrays(parts).take(pa.array(inverse))


def make_udf(store: ModelStore, kernel: Kernel, arrow: Callable[[np.ndarray], pa.Array]):
    def run(model: TrainedModel, vectors: pa.Array) -> pa.Array:
        return arrow(kernel(model, vectors_to_matrix(model, vectors)))

    def udf(models: pa.ChunkedArray, vectors: pa.ChunkedArray) -> pa.Array:
        return _by_model(store, _single(models), run, _single(vectors))

    return udf


FUNCTIONS: dict[str, tuple[Kernel, Callable[[np.ndarray], pa.Array], Any]] = {
    "ae_score": (kernels.score, pa.array, st.DOUBLE),
    "ae_encode": (kernels.encode, _list_array, FLOAT_LIST),
    "ae_reconstruct": (kernels.reconstruct, _list_array, FLOAT_LIST),
    "ae_feature_errors": (kernels.feature_errors, _list_array, FLOAT_LIST),
    "ae_is_anomaly": (kernels.is_anomaly, pa.array, st.BOOLEAN),
    "ae_percentile": (kernels.percentile, pa.array, st.DOUBLE),
}
