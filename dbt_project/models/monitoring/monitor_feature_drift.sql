-- Weekly drift of each model feature against the training window: PSI over bins cut at the
-- feature's training deciles, compared with the training window's own share in each bin (so
-- binary features, whose deciles repeat, are handled). Grain: one row per
-- week (ISO weeks, from Monday) and feature.

{%- set features = var('transaction_features') %}

with features as (
    -- monitoring starts with the training window: earlier weeks are history burn-in
    select * from {{ ref('fct_transaction_features') }}
    where transacted_at >= cast('{{ var("training_start") }}' as timestamp)
),

training as (
    select * from {{ ref('fct_transaction_training_rows') }}
),

long as (
    unpivot (
        select transaction_id, transacted_at, {{ features | join(', ') }} from features
    ) on {{ features | join(', ') }} into name feature value value
),

training_long as (
    unpivot (
        select {{ features | join(', ') }} from training
    ) on {{ features | join(', ') }} into name feature value value
),

edges as (
    select feature, list_distinct(quantile_cont(value, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])) as edges
    from training_long
    group by feature
),

reference as (
    select feature, len(list_filter(edges.edges, lambda e: e < value)) as bin, count(*) as n
    from training_long inner join edges using (feature)
    group by all
),

reference_share as (
    select feature, bin, n / sum(n) over (partition by feature) as expected
    from reference
),

observed as (
    select
        cast(date_trunc('week', transacted_at) as date) as week,
        feature,
        len(list_filter(edges.edges, lambda e: e < value)) as bin,
        count(*) as n
    from long inner join edges using (feature)
    group by all
),

observed_share as (
    select week, feature, bin, n / sum(n) over (partition by week, feature) as actual
    from observed
),

grid as (
    select distinct observed_share.week, reference_share.feature, reference_share.bin,
        reference_share.expected
    from observed_share inner join reference_share using (feature)
)

select
    grid.week,
    grid.feature,
    round(sum(
        (greatest(coalesce(observed_share.actual, 0), 1e-4) - greatest(grid.expected, 1e-4))
        * ln(greatest(coalesce(observed_share.actual, 0), 1e-4) / greatest(grid.expected, 1e-4))
    ), 4) as psi,
    grid.week >= cast('{{ var("training_cutoff") }}' as date) as after_training_window
from grid
left join observed_share using (week, feature, bin)
group by grid.week, grid.feature
order by grid.week, grid.feature
