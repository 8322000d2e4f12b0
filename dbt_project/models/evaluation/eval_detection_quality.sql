-- How well the scores separate the injected anomalies, using the labels that training never
-- sees. ROC-AUC by the rank formula (ties count half), per anomaly kind and overall, plus the
-- precision of the first 100 rows by score. Grain: one row per anomaly kind, plus 'all'.

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
        labels.anomaly_kind
    from scores
    inner join labels using (transaction_id)
),

positioned as (
    -- for each row: how many normal rows score below it (ties count half)
    select
        *,
        sum(case when not is_anomaly then 1 else 0 end) over (order by score)
            - 0.5 * sum(case when not is_anomaly then 1 else 0 end) over (partition by score)
            as normals_below,
        row_number() over (order by score desc) as score_rank
    from joined
),

normals as (
    select count(*) as n_normal from joined where not is_anomaly
),

per_kind as (
    select
        coalesce(anomaly_kind, 'all') as anomaly_kind,
        count(*) as n_anomalies,
        sum(normals_below) / (count(*) * any_value(n_normal)) as roc_auc,
        avg(case when flagged then 1.0 else 0.0 end) as recall_at_threshold
    from positioned cross join normals
    where is_anomaly
    group by grouping sets ((anomaly_kind), ())
),

overall as (
    select
        avg(case when is_anomaly then 1.0 else 0.0 end) filter (where score_rank <= 100)
            as precision_at_100,
        sum(case when flagged and is_anomaly then 1 else 0 end)
            / nullif(sum(case when flagged then 1 else 0 end), 0) as precision_at_threshold,
        sum(case when flagged then 1 else 0 end) as n_flagged
    from positioned
)

select
    per_kind.anomaly_kind,
    per_kind.n_anomalies,
    round(per_kind.roc_auc, 4) as roc_auc,
    round(per_kind.recall_at_threshold, 4) as recall_at_threshold,
    round(overall.precision_at_100, 4) as precision_at_100,
    round(overall.precision_at_threshold, 4) as precision_at_threshold,
    overall.n_flagged
from per_kind cross join overall
order by per_kind.anomaly_kind = 'all' desc, per_kind.anomaly_kind
