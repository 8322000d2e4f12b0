{#-
  detection_quality(relation): ROC-AUC (rank formula, ties count half) per anomaly kind and
  overall, recall at the threshold, precision in the top 100 and at the threshold.
  `relation` must have columns: score, flagged (bool), is_anomaly (bool), kind (varchar).
-#}
{% macro detection_quality(relation) %}
positioned as (
    -- for each row: how many normal rows score below it (ties count half)
    select
        *,
        sum(case when not is_anomaly then 1 else 0 end) over (order by score)
            - 0.5 * sum(case when not is_anomaly then 1 else 0 end) over (partition by score)
            as normals_below,
        row_number() over (order by score desc) as score_rank
    from {{ relation }}
),

normals as (
    select count(*) as n_normal from {{ relation }} where not is_anomaly
),

per_kind as (
    select
        coalesce(kind, 'all') as anomaly_kind,
        count(*) as n_anomalies,
        sum(normals_below) / (count(*) * any_value(n_normal)) as roc_auc,
        avg(case when flagged then 1.0 else 0.0 end) as recall_at_threshold
    from positioned cross join normals
    where is_anomaly
    group by grouping sets ((kind), ())
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
{% endmacro %}
