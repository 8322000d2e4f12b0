"""Representation learning with few labels: logistic regression on the `digits_conv` latent
codes against the same model on the raw pixels, 10 labelled images per digit, scored on every
other image; repeated over 10 draws of the labelled set. Which one wins is a finding.
Grain: one row per input representation.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    latents = dbt.ref("digit_latents").df().sort_values("digit_id")
    pixels = dbt.ref("fct_digits").df().sort_values("digit_id")
    y = pixels["label"].to_numpy()
    inputs = {
        "raw pixels (64)": np.stack(pixels["pixels"].to_numpy()),
        f"latent code ({len(latents['latent'].iloc[0])}, digits_conv)": np.stack(
            latents["latent"].to_numpy()),
    }
    rows = []
    for name, x in inputs.items():
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
        accs = []
        for draw in range(10):
            rng = np.random.default_rng(draw)
            labelled = np.concatenate([rng.choice(np.nonzero(y == c)[0], 10, replace=False)
                                       for c in range(10)])
            rest = np.setdiff1d(np.arange(len(y)), labelled)
            clf = LogisticRegression(max_iter=2000, C=1.0).fit(x[labelled], y[labelled])
            accs.append(float((clf.predict(x[rest]) == y[rest]).mean()))
        rows.append({
            "representation": name,
            "labels_per_class": 10,
            "draws": len(accs),
            "accuracy_mean": round(float(np.mean(accs)), 4),
            "accuracy_std": round(float(np.std(accs)), 4),
        })
    return pd.DataFrame(rows)
