-- Anomaly scores of every transaction by the production version of the `transactions` model.
-- Grain: one row per transaction. The version is pinned at compile time (ae_model), so a run
-- never mixes versions, and every row records the version that produced it.
-- depends_on: {{ ref('transactions_autoencoder') }}

{%- set m = ae_model('transactions') %}

with features as (
    select * from {{ ref('fct_transaction_features') }}
),

scored as (
    select
        transaction_id,
        ae_score('{{ m.ref }}', {{ ae_features('transactions') }}) as score
    from features
)

select
    transaction_id,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    score,
    cast({{ m.threshold }} as double) as threshold,
    score > cast({{ m.threshold }} as double) as is_anomaly
from scored
