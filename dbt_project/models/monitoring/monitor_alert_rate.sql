-- Weekly share of transactions flagged against the share the version expects: the share of its
-- held-out reference scores above its threshold. Grain: one row per week (ISO weeks, from Monday).
-- depends_on: {{ ref('transactions_autoencoder') }}

{%- set m = duckae.ae_model('transactions') %}

with scores as (
    -- monitoring starts with the training window: earlier weeks are history burn-in
    select * from {{ ref('transaction_scores') }}
    where transacted_at >= cast('{{ var("training_start") }}' as timestamp)
),

weekly as (
    select
        cast(date_trunc('week', transacted_at) as date) as week,
        count(*) as n_rows,
        count(*) filter (where is_anomaly) as n_flagged
    from scores
    group by 1
),

expected as (
    select 1 - ae_score_percentile('{{ m.ref }}', cast({{ m.threshold }} as double)) as expected_rate
)

select
    week,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    n_rows,
    n_flagged,
    n_flagged / n_rows as alert_rate,
    expected.expected_rate,
    round(n_flagged / n_rows / nullif(expected.expected_rate, 0), 3) as alert_rate_ratio,
    week >= cast('{{ var("training_cutoff") }}' as date) as after_training_window
from weekly cross join expected
order by week
