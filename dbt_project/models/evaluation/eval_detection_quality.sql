-- How well the transaction scores separate the injected anomalies, using the labels that
-- training never sees, over the training window [training_start, training_cutoff): after it,
-- behaviour shifts on purpose and the monitoring models take over).
-- Grain: one row per anomaly kind, plus 'all'.

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
    where scores.transacted_at >= cast('{{ var("training_start") }}' as timestamp)
        and scores.transacted_at < cast('{{ var("training_cutoff") }}' as timestamp)
),

{{ detection_quality('joined') }}
