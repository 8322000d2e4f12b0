-- Every transaction a model version has flagged, added the first time it is flagged and kept:
-- a later run (another version, another threshold) adds newly flagged rows and never rewrites
-- or removes earlier ones. Analysts' decisions live elsewhere (review.decisions, never written
-- by dbt); review_queue joins them. Grain: one row per flagged transaction.
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}

with scores as (
    select * from {{ ref('transaction_scores') }}
),

transactions as (
    select * from {{ ref('stg_transactions') }}
),

flagged as (
    select * from scores
    where is_anomaly
    {% if is_incremental() %}
        and transaction_id not in (select transaction_id from {{ this }})
    {% endif %}
)

select
    flagged.transaction_id,
    flagged.model_name,
    flagged.model_version as flagged_by_version,
    flagged.score,
    flagged.percentile,
    flagged.top_reason,
    flagged.top_reasons,
    transactions.customer_id,
    transactions.transacted_at,
    transactions.amount,
    transactions.merchant_category,
    transactions.channel,
    transactions.country,
    now()::timestamp as first_seen_at
from flagged
inner join transactions using (transaction_id)
