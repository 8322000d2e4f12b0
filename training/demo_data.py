"""A seeded generator of realistic card transactions with labelled, injected anomalies.

Customers have a home country, a typical spend, a daily rate, favourite merchant categories,
an active-hours profile and channel habits; merchant categories constrain the channel (fuel is
bought in person, digital goods online) and scale the amount. About 1% of rows are anomalies
of three kinds:

- ``extreme_amount``: one feature, the amount, is 15-60x the customer's typical spend;
- ``unusual_combination``: ordinary values in a combination normal customers never produce
  (fuel bought online, digital goods paid by chip, groceries at 3 a.m. abroad...);
- ``velocity_burst``: a card-testing burst: 8-15 small online payments within minutes.

The labels land in ``raw.transaction_labels``, used only to evaluate, never to train.

After the 91 days (13 weeks from 2026-06-01) come ``drift_days`` more in which behaviour shifts:
prices double and half of grocery and restaurant purchases move online (delivery apps). The models
train before the shift; the monitoring models see it.
"""

from __future__ import annotations

import dataclasses
import logging

import duckdb
import numpy as np
import pandas as pd

from training.demo_sensors import SensorConfig

__all__ = ["DemoConfig", "SensorConfig", "generate", "load"]
from training.refs import first

log = logging.getLogger(__name__)

GENERATOR_VERSION = 5
CATEGORIES = ["grocery", "restaurant", "fuel", "retail", "travel", "electronics", "digital",
              "pharmacy"]
CATEGORY_AMOUNT = np.array([1.0, 0.8, 1.3, 1.6, 5.0, 4.0, 0.35, 0.6])
CATEGORY_POPULARITY = np.array([0.26, 0.2, 0.1, 0.15, 0.03, 0.04, 0.14, 0.08])
CHANNELS = ["chip", "contactless", "online"]
# P(channel | category): rows follow CATEGORIES, columns CHANNELS.
CHANNEL_GIVEN_CATEGORY = np.array([
    [0.35, 0.60, 0.05],  # grocery
    [0.35, 0.60, 0.05],  # restaurant
    [0.45, 0.55, 0.00],  # fuel: always in person
    [0.35, 0.35, 0.30],  # retail
    [0.10, 0.05, 0.85],  # travel
    [0.30, 0.10, 0.60],  # electronics
    [0.00, 0.00, 1.00],  # digital: always online
    [0.40, 0.60, 0.00],  # pharmacy: in person
])
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "CA"]
COUNTRY_WEIGHTS = np.array([0.35, 0.15, 0.14, 0.12, 0.08, 0.07, 0.05, 0.04])
START = np.datetime64("2026-06-01T00:00:00")
DAYS = 91  # 13 weeks from Monday 2026-06-01

# Combinations of ordinary values that normal behaviour never produces.
ODD_COMBOS = [
    ("fuel", "online"),
    ("digital", "chip"),
    ("pharmacy", "online"),
    ("digital", "contactless"),
]


@dataclasses.dataclass
class DemoConfig:
    n_rows: int = 200_000
    anomaly_rate: float = 0.01
    seed: int = 42
    # shares of the anomaly kinds among anomalous rows
    share_extreme: float = 0.4
    share_combination: float = 0.35
    share_burst: float = 0.25
    # Days after the 13-week training window in which behaviour shifts (prices double, grocery
    # and restaurant purchases move online): the monitoring models should see it. 0: no shift.
    drift_days: int = 14
    sensors: SensorConfig = dataclasses.field(default_factory=SensorConfig)


def _customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    night = rng.random(n) < 0.15
    return pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype=np.int64),
        "home_country": rng.choice(COUNTRIES, size=n, p=COUNTRY_WEIGHTS),
        "typical_amount": np.round(np.exp(rng.normal(3.4, 0.55, n)), 2),
        "daily_rate": rng.gamma(4.0, 1.0, n),  # rescaled to the row budget below
        "peak_hour": np.where(night, rng.normal(21.0, 1.5, n), rng.normal(13.5, 2.5, n)),
        "hour_spread": rng.uniform(2.0, 4.0, n),
        "travel_rate": rng.beta(1.0, 40.0, n),
        "signup_date": START - rng.integers(30, 2000, n).astype("timedelta64[D]"),
    })


def _normal_transactions(rng: np.random.Generator, cust: pd.DataFrame, n_rows: int,
                         days: int) -> pd.DataFrame:
    n_c = len(cust)
    rate = cust["daily_rate"].to_numpy()
    counts = rng.poisson(rate / rate.sum() * n_rows)
    counts = np.maximum(counts, 1)
    idx = np.repeat(np.arange(n_c), counts)
    n = len(idx)
    # Per-customer category preferences: a Dirichlet around the global popularity.
    prefs = rng.dirichlet(CATEGORY_POPULARITY * 6.0, size=n_c)
    cum = prefs.cumsum(axis=1)[idx]
    cat = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, len(CATEGORIES) - 1)
    # Channel from the category, tilted by the customer's taste for contactless.
    probs = CHANNEL_GIVEN_CATEGORY[cat]
    ch_cum = probs.cumsum(axis=1)
    channel = (rng.random(n)[:, None] > ch_cum).sum(axis=1).clip(0, 2)
    # Time: a day in the window and an hour from the customer's profile.
    day = rng.integers(0, days, n)
    hour = np.mod(
        rng.normal(cust["peak_hour"].to_numpy()[idx], cust["hour_spread"].to_numpy()[idx]), 24
    )
    secs = (day * 86400 + hour * 3600).astype(np.int64)
    ts = START + secs.astype("timedelta64[s]")
    home = cust["home_country"].to_numpy()[idx]
    abroad = rng.random(n) < cust["travel_rate"].to_numpy()[idx]
    country = np.where(abroad, rng.choice(COUNTRIES, size=n, p=COUNTRY_WEIGHTS), home)
    amount = (
        cust["typical_amount"].to_numpy()[idx] * CATEGORY_AMOUNT[cat] * np.exp(rng.normal(0, 0.35, n))
    )
    return pd.DataFrame({
        "customer_id": cust["customer_id"].to_numpy()[idx],
        "transacted_at": ts,
        "amount": np.round(np.maximum(amount, 0.5), 2),
        "merchant_category": np.asarray(CATEGORIES)[cat],
        "channel": np.asarray(CHANNELS)[channel],
        "country": country,
        "kind": "normal",
        "day": day,
    })


def _drift(rng: np.random.Generator, tx: pd.DataFrame) -> pd.DataFrame:
    """After day DAYS behaviour shifts: prices double, and half of grocery and restaurant
    purchases move online (delivery apps)."""
    later = tx["day"].to_numpy() >= DAYS
    tx.loc[later, "amount"] = np.round(tx.loc[later, "amount"].to_numpy() * 2.0, 2)
    movable = later & tx["merchant_category"].isin(["grocery", "restaurant"]).to_numpy()
    switch = movable & (rng.random(len(tx)) < 0.5)
    tx.loc[switch, "channel"] = "online"
    return tx


def _inject(rng: np.random.Generator, tx: pd.DataFrame, cust: pd.DataFrame, cfg: DemoConfig,
            days: int) -> pd.DataFrame:
    n_anom = int(round(cfg.n_rows * cfg.anomaly_rate))
    n_extreme = int(round(n_anom * cfg.share_extreme))
    n_combo = int(round(n_anom * cfg.share_combination))
    n_burst_rows = n_anom - n_extreme - n_combo
    tx = tx.copy()
    picked = rng.choice(len(tx), size=n_extreme + n_combo, replace=False)
    ext, combo = picked[:n_extreme], picked[n_extreme:]
    # 1. A single extreme feature: the amount.
    tx.loc[tx.index[ext], "amount"] = np.round(
        tx["amount"].to_numpy()[ext] * rng.uniform(15.0, 60.0, len(ext)), 2
    )
    tx.loc[tx.index[ext], "kind"] = "extreme_amount"
    # 2. An unusual combination of ordinary values, at an ordinary amount for the category.
    which = rng.integers(0, len(ODD_COMBOS), len(combo))
    cats = np.asarray([ODD_COMBOS[w][0] for w in which])
    chans = np.asarray([ODD_COMBOS[w][1] for w in which])
    typical = cust.set_index("customer_id").loc[tx["customer_id"].to_numpy()[combo], "typical_amount"]
    cat_idx = np.asarray([CATEGORIES.index(c) for c in cats])
    tx.loc[tx.index[combo], "merchant_category"] = cats
    tx.loc[tx.index[combo], "channel"] = chans
    tx.loc[tx.index[combo], "amount"] = np.round(
        typical.to_numpy() * CATEGORY_AMOUNT[cat_idx] * np.exp(rng.normal(0, 0.35, len(combo))), 2
    )
    tx.loc[tx.index[combo], "kind"] = "unusual_combination"
    # 3. Velocity bursts: new rows, 8-15 small online payments within ~10 minutes.
    bursts = []
    left = n_burst_rows
    while left > 0:
        size = min(left, int(rng.integers(8, 16)))
        c = cust.iloc[int(rng.integers(0, len(cust)))]
        t0 = START + np.timedelta64(int(rng.integers(0, days * 86400 - 3600)), "s")
        offsets = np.sort(rng.integers(0, 600, size)).astype("timedelta64[s]")
        bursts.append(pd.DataFrame({
            "customer_id": np.full(size, c["customer_id"], dtype=np.int64),
            "transacted_at": t0 + offsets,
            "amount": np.round(rng.uniform(0.5, 4.0, size), 2),
            "merchant_category": rng.choice(["digital", "retail"], size),
            "channel": "online",
            "country": rng.choice(COUNTRIES, size, p=COUNTRY_WEIGHTS),
            "kind": "velocity_burst",
        }))
        left -= size
    return pd.concat([tx, *bursts], ignore_index=True)


def generate(cfg: DemoConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(customers, transactions, labels) as DataFrames; deterministic for a seed."""
    rng = np.random.default_rng(cfg.seed)
    n_customers = max(20, cfg.n_rows // 40)
    cust = _customers(rng, n_customers)
    days = DAYS + cfg.drift_days
    base = int(cfg.n_rows * (1 - cfg.anomaly_rate * cfg.share_burst) * days / DAYS)
    tx = _drift(rng, _normal_transactions(rng, cust, base, days))
    tx = _inject(rng, tx, cust, cfg, days).drop(columns=["day"])
    tx = tx.sort_values(["transacted_at", "customer_id"], kind="stable").reset_index(drop=True)
    tx.insert(0, "transaction_id", np.arange(1, len(tx) + 1, dtype=np.int64))
    labels = pd.DataFrame({
        "transaction_id": tx["transaction_id"],
        "is_anomaly": tx["kind"] != "normal",
        "anomaly_kind": tx["kind"].where(tx["kind"] != "normal", None),
    })
    tx = tx.drop(columns=["kind"])
    customers = cust[["customer_id", "home_country", "signup_date"]].copy()
    customers["signup_date"] = customers["signup_date"].astype("datetime64[s]").dt.date
    return customers, tx, labels


RAW_TABLES = ("customers", "transactions", "transaction_labels", "sensor_readings",
              "sensor_labels", "digits")


def frames(cfg: DemoConfig) -> dict[str, pd.DataFrame]:
    """Every raw table of the demo warehouse, by name."""
    from training import demo_digits, demo_sensors

    customers, tx, labels = generate(cfg)
    readings, sensor_labels = demo_sensors.generate(cfg.sensors)
    return {
        "customers": customers,
        "transactions": tx,
        "transaction_labels": labels,
        "sensor_readings": readings,
        "sensor_labels": sensor_labels,
        "digits": demo_digits.generate(cfg.seed),
    }


def load(con: duckdb.DuckDBPyConnection, cfg: DemoConfig, force: bool = False) -> bool:
    """Write the raw tables (transactions, sensors, digits and their labels) in one transaction.

    Skips the work (returns False) when the tables already hold this exact configuration.
    """
    stamp = f"v{GENERATOR_VERSION}:{dataclasses.asdict(cfg)}"
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute("CREATE TABLE IF NOT EXISTS raw.generator_runs (stamp VARCHAR, created_at TIMESTAMP)")
    have = first(con.execute(
        "SELECT count(*) FROM raw.generator_runs WHERE stamp = ?", [stamp]
    ))
    tables = first(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name IN "
        f"({', '.join(repr(t) for t in RAW_TABLES)})"
    ))
    if not force and have and have[0] and tables and tables[0] == len(RAW_TABLES):
        log.info("demo data already generated for %s; skipping", stamp)
        return False
    data = frames(cfg)
    cur = con.cursor()
    cur.execute("BEGIN TRANSACTION")
    try:
        for name, df in data.items():
            cur.register("_df", df)
            cur.execute(f"CREATE OR REPLACE TABLE raw.{name} AS SELECT * FROM _df")
            cur.unregister("_df")
        cur.execute("DELETE FROM raw.generator_runs")
        cur.execute("INSERT INTO raw.generator_runs VALUES (?, now()::TIMESTAMP)", [stamp])
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()
    labels = data["transaction_labels"]
    log.info(
        "generated %d transactions (%d anomalies) for %d customers, %d sensor readings "
        "(%d faulty windows), %d digits",
        len(data["transactions"]), int(labels["is_anomaly"].sum()), len(data["customers"]),
        len(data["sensor_readings"]), int(data["sensor_labels"]["is_fault"].sum()),
        len(data["digits"]),
    )
    return True
