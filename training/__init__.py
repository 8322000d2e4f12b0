"""duckae's training side: autoencoder families, the trainer, DuckDB streaming, the registry."""

__version__ = "0.1.0"
