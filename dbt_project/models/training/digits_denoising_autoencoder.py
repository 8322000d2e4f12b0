"""Trains (or reuses) the model configured for digits_denoising_autoencoder in _training_models.yml inside `dbt build`.

The fit happens only when the feature data's fingerprint or the config changed since the
newest registered version; otherwise the existing version is reused, so a second `dbt build`
with nothing changed does not retrain. The output is one row describing the version in use.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from training.dbt_job import train_model

    return train_model(
        session,
        dbt.ref("fct_digits"),
        name=dbt.config.get("ae_name"),
        family=dbt.config.get("ae_family"),
        key=dbt.config.get("ae_key"),
        features=dbt.config.get("ae_features"),
        params=dbt.config.get("ae_params"),
        train_config=dbt.config.get("ae_train"),
    )
