-- Anomaly scores of every transaction by the production version of the `transactions` model,
-- with the score's percentile among the version's held-out reference scores and the three
-- reasons (feature groups) that contributed most. Grain: one row per transaction. The version is pinned at
-- compile time (ae_model), so a run never mixes versions, and every row records it.
-- depends_on: {{ ref('transactions_autoencoder') }}

{%- set m = duckae.ae_model('transactions') %}

with features as (
    select * from {{ ref('fct_transaction_features') }}
),

scored as (
    select
        transaction_id,
        transacted_at,
        ae_score('{{ m.ref }}', {{ duckae.ae_features('transactions') }}) as score,
        {{ duckae.ae_reasons('transactions', 3) }} as top_reasons
    from features
)

select
    transaction_id,
    transacted_at,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    score,
    ae_score_percentile('{{ m.ref }}', score) as percentile,
    cast({{ m.threshold }} as double) as threshold,
    score > cast({{ m.threshold }} as double) as is_anomaly,
    top_reasons[1].reason as top_reason,
    top_reasons
from scored
