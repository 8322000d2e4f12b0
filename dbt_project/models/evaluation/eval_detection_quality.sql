-- How well the transaction scores separate the injected anomalies, using the labels that
-- training never sees. Grain: one row per anomaly kind, plus 'all'.

with scores as (
    select * from {{ ref('transaction_scores') }}
),

labels as (
    select * from {{ source('raw', 'transaction_labels') }}
),

joined as (
    select
        scores.score,
        scores.is_anomaly as flagged,
        labels.is_anomaly,
        labels.anomaly_kind as kind
    from scores
    inner join labels using (transaction_id)
),

{{ detection_quality('joined') }}
