-- The anomalies an analyst should look at first: flagged transactions, highest score first,
-- with the context needed to judge them and the features that drove the error.
-- Grain: one row per flagged transaction, at most var('review_queue_size') rows.
-- depends_on: {{ ref('transactions_autoencoder') }}

{%- set m = ae_model('transactions') %}

with scores as (
    select * from {{ ref('transaction_scores') }}
),

transactions as (
    select * from {{ ref('stg_transactions') }}
),

features as (
    select * from {{ ref('fct_transaction_features') }}
),

flagged as (
    select * from scores
    where is_anomaly
    order by score desc
    limit {{ var('review_queue_size') }}
),

reasons as (
    select
        flagged.transaction_id,
        ae_feature_errors('{{ m.ref }}', {{ ae_features('transactions') }}) as feature_errors
    from flagged
    inner join features using (transaction_id)
),

ranked_reasons as (
    select
        transaction_id,
        list_sort(
            list_transform(
                list_zip({{ m.features }}, feature_errors),
                -- share first, so sorting the structs sorts by share
                lambda x: {'share': round(cast(x[2] as double), 4), 'feature': x[1]}
            ),
            'DESC'
        ) as all_reasons
    from reasons
)

select
    row_number() over (order by flagged.score desc) as review_rank,
    flagged.transaction_id,
    flagged.model_name,
    flagged.model_version,
    flagged.score,
    transactions.customer_id,
    transactions.transacted_at,
    transactions.amount,
    transactions.merchant_category,
    transactions.channel,
    transactions.country,
    all_reasons[1].feature as top_feature,
    all_reasons[1].share as top_feature_share,
    all_reasons[1:3] as top_reasons
from flagged
inner join transactions using (transaction_id)
inner join ranked_reasons using (transaction_id)
order by review_rank
