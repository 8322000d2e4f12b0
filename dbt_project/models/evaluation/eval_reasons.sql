-- Do the reasons point at what was injected? For each anomaly kind, the share of its rows
-- whose top reason is the group that kind changes: an extreme amount changes one raw column,
-- `amount`, which feeds the four features of the `amount` group; a velocity burst shows in
-- `velocity`; an unusual combination in `category` or `channel`.
-- Grain: one row per anomaly kind.

with scores as (
    select * from {{ ref('transaction_scores') }}
),

labels as (
    select * from {{ source('raw', 'transaction_labels') }}
    where is_anomaly
),

expected (anomaly_kind, reason) as (
    values
        ('extreme_amount', 'amount'),
        ('velocity_burst', 'velocity'),
        ('unusual_combination', 'category'),
        ('unusual_combination', 'channel')
),

expected_lists as (
    select anomaly_kind, list(reason) as reasons from expected group by anomaly_kind
)

select
    labels.anomaly_kind,
    count(*) as n_anomalies,
    round(avg(case when list_contains(expected_lists.reasons, scores.top_reason) then 1.0 else 0.0 end), 4)
        as top_reason_hit_rate,
    round(avg(case when list_has_any(expected_lists.reasons,
        list_transform(scores.top_reasons, lambda r: r.reason)) then 1.0 else 0.0 end), 4)
        as top3_hit_rate,
    round(avg(case when scores.is_anomaly then 1.0 else 0.0 end), 4) as flagged_rate
from labels
inner join scores using (transaction_id)
inner join expected_lists using (anomaly_kind)
group by labels.anomaly_kind
order by labels.anomaly_kind
