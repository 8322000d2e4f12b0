-- Weekly drift of the score distribution against the version's reference (held-out) scores:
-- PSI over the reference deciles (10% expected in each bin) and the Kolmogorov-Smirnov
-- distance between the week's score percentiles and the uniform distribution they follow when
-- nothing drifted. Grain: one row per week (ISO weeks, from Monday).
-- depends_on: {{ ref('transactions_autoencoder') }}

{%- set m = duckae.ae_model('transactions') %}

with scores as (
    -- monitoring starts with the training window: earlier weeks are history burn-in
    select * from {{ ref('transaction_scores') }}
    where transacted_at >= cast('{{ var("training_start") }}' as timestamp)
),

reference as (
    -- the 10%, 20%, ..., 90% reference quantiles (the registry keeps 1001 of them)
    select list_transform(range(1, 10), lambda i: reference_quantiles[i * 100 + 1]) as edges
    from {{ source('duckae', 'model_versions') }}
    where name = '{{ m.name }}' and version = {{ m.version }}
),

binned as (
    select
        cast(date_trunc('week', scores.transacted_at) as date) as week,
        len(list_filter(reference.edges, lambda e: e < scores.score)) as bin,
        scores.percentile
    from scores cross join reference
),

bins as (
    select week, bin, count(*) as n
    from binned group by week, bin
),

weeks as (
    select week, count(*) as n_rows from binned group by week
),

grid as (
    select weeks.week, weeks.n_rows, b.bin
    from weeks cross join (select range as bin from range(10)) as b
),

psi as (
    select
        grid.week,
        sum(
            (greatest(coalesce(bins.n, 0) / grid.n_rows, 1e-4) - 0.1)
            * ln(greatest(coalesce(bins.n, 0) / grid.n_rows, 1e-4) / 0.1)
        ) as psi
    from grid left join bins using (week, bin)
    group by grid.week
),

ks as (
    select week, max(greatest(i / n - percentile, percentile - (i - 1) / n)) as ks
    from (
        select
            week,
            percentile,
            row_number() over (partition by week order by percentile) as i,
            count(*) over (partition by week) as n
        from binned
    )
    group by week
)

select
    weeks.week,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    weeks.n_rows,
    round(psi.psi, 4) as psi,
    round(ks.ks, 4) as ks,
    weeks.week >= cast('{{ var("training_cutoff") }}' as date) as after_training_window
from weeks
inner join psi using (week)
inner join ks using (week)
order by weeks.week
