"""Trains (or reuses) the `transactions` autoencoder inside `dbt build`.

The fit happens only when the training rows' fingerprint, the config or the analysts'
decisions changed since the newest registered version; otherwise the existing version is
reused, so a second `dbt build` with nothing changed does not retrain. Rows confirmed as
anomalies in the `transactions` review queue are left out of training, and the threshold is
calibrated on the reviewed rows (max F1) once there are enough of them. A PCA baseline with the
same code size (`transactions_pca`) is fitted on the same rows. The output is one row describing
the version in use.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from training.dbt_job import train_model

    return train_model(
        session,
        dbt.ref("fct_transaction_training_rows"),
        name=dbt.config.get("ae_name"),
        family=dbt.config.get("ae_family"),
        key=dbt.config.get("ae_key"),
        features=dbt.config.get("ae_features"),
        params=dbt.config.get("ae_params"),
        train_config=dbt.config.get("ae_train"),
        review_queue=dbt.config.get("ae_review_queue"),
        threshold=dbt.config.get("ae_threshold"),
        review_source=dbt.ref("fct_transaction_features"),
        feature_groups=dbt.config.get("ae_feature_groups"),
        baseline_pca=dbt.config.get("ae_baseline_pca", False),
    )
