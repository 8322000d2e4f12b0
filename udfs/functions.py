"""The SQL functions: vectorized Arrow UDFs over the batch kernels.

DuckDB hands each call at most 2048 rows as Arrow arrays (NULL rows already filtered out: a
NULL vector gives a NULL result). Each call groups rows by model reference (almost always a
single constant), converts the ``FLOAT[]`` column to a float32 matrix without copying per row,
runs the kernel and returns an Arrow array.
"""

from __future__ import annotations

import dataclasses
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


def vectors_to_matrix(model: TrainedModel, vectors: pa.Array, latent: bool = False) -> np.ndarray:
    """A ``FLOAT[]`` Arrow column -> float32 ``(n, d)``; every list must have length ``d``
    (the model's input width, or its code size when ``latent``)."""
    d = model.latent_dim if latent else model.input_dim
    if pa.types.is_fixed_size_list(vectors.type):
        lengths_ok = vectors.type.list_size == d
        bad_len = vectors.type.list_size
    else:
        lengths = pc.list_value_length(vectors)
        lo, hi = pc.min_max(lengths).values()
        lengths_ok = lo.as_py() == d and hi.as_py() == d
        bad_len = hi.as_py() if hi.as_py() != d else lo.as_py()
    if not lengths_ok:
        if latent:
            raise FeatureVectorError(
                f"{model.ref} decodes latent codes of length {d}, got a code of length {bad_len}"
            )
        names = model.feature_names
        shown = ", ".join(names) if len(names) <= 30 else ", ".join(names[:30]) + ", ..."
        raise FeatureVectorError(
            f"{model.ref} expects feature vectors of length {d} [{shown}], got a vector of "
            f"length {bad_len}; build the vector with the dbt macro ae_features('{model.name}') "
            "so it follows the model's recorded feature order"
        )
    return arrow_to_matrix(vectors, d)


def _list_array(values: np.ndarray) -> pa.Array:
    """``(n, k)`` -> Arrow ``list<float>`` of n lists of length k."""
    n, k = values.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1).astype(np.float32)))



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


@dataclasses.dataclass(frozen=True)
class SqlFunction:
    """``name(model VARCHAR, arg) -> returns``: ``kernel`` over the batch, ``to_arrow`` on the way
    out. ``arg`` is the feature vector, a latent code (``decode``) or a seed (``sample``)."""

    kernel: Callable[[TrainedModel, np.ndarray], np.ndarray]
    to_arrow: Callable[[np.ndarray], pa.Array]
    returns: Any
    arg: str = "features"  # "features" | "latent" | "seed" | "score"

    @property
    def arg_type(self) -> Any:
        return {"seed": st.BIGINT, "score": st.DOUBLE}.get(self.arg, FLOAT_LIST)

    def udf(self, store: ModelStore) -> Callable[[pa.ChunkedArray, pa.ChunkedArray], pa.Array]:
        def run(model: TrainedModel, args: pa.Array) -> pa.Array:
            if self.arg in ("seed", "score"):
                dtype = np.int64 if self.arg == "seed" else np.float64
                x = np.asarray(args.to_numpy(zero_copy_only=False), dtype=dtype)
            else:
                x = vectors_to_matrix(model, args, latent=self.arg == "latent")
            return self.to_arrow(self.kernel(model, x))

        def udf(models: pa.ChunkedArray, args: pa.ChunkedArray) -> pa.Array:
            store.count_call(len(models))
            return _by_model(store, _single(models), run, _single(args))

        return udf


FUNCTIONS: dict[str, SqlFunction] = {
    "ae_score": SqlFunction(kernels.score, pa.array, st.DOUBLE),
    "ae_encode": SqlFunction(kernels.encode, _list_array, FLOAT_LIST),
    "ae_reconstruct": SqlFunction(kernels.reconstruct, _list_array, FLOAT_LIST),
    "ae_impute": SqlFunction(kernels.impute, _list_array, FLOAT_LIST),
    "ae_reconstruction_error": SqlFunction(kernels.reconstruction_error, pa.array, st.DOUBLE),
    "ae_feature_errors": SqlFunction(kernels.feature_errors, _list_array, FLOAT_LIST),
    "ae_attributions": SqlFunction(kernels.attributions, _list_array, FLOAT_LIST),
    "ae_is_anomaly": SqlFunction(kernels.is_anomaly, pa.array, st.BOOLEAN),
    "ae_percentile": SqlFunction(kernels.percentile, pa.array, st.DOUBLE),
    "ae_score_percentile": SqlFunction(kernels.score_percentile, pa.array, st.DOUBLE, arg="score"),
    "ae_decode": SqlFunction(kernels.decode, _list_array, FLOAT_LIST, arg="latent"),
    "ae_sample": SqlFunction(kernels.sample, _list_array, FLOAT_LIST, arg="seed"),
}
