-- Fidelity of synthetic_transactions against the training window: per-feature distribution
-- distance (two-sample Kolmogorov-Smirnov), the difference of the correlation matrices, and a
-- copy check. Grain: one row per feature, plus a summary row (feature = '(all)').
--
-- Copy check: each synthetic row's distance to its nearest training row (standardized units,
-- against a sample of the training window), compared with how far real held-out rows are from
-- their own nearest training row. A synthetic row is a near-copy when it is closer than half
-- the real rows' median nearest distance; that share must stay small (the tests hold it under
-- 5%): a generator that memorizes rows would push it towards 1.
-- depends_on: {{ ref('transactions_vae') }}

{%- set m = duckae.ae_model('transactions_vae') %}
{%- set features = m.features %}
{%- set n = features | length %}

with synthetic as (
    select * from {{ ref('synthetic_transactions') }}
),

real as (
    select * from {{ ref('fct_transaction_training_rows') }}
    using sample reservoir({{ var('fidelity_sample_rows') }} rows) repeatable (11)
),

stats as (
    select
        {%- for f in features %}
        avg({{ f }}) as mean_{{ f }}, nullif(stddev_pop({{ f }}), 0) as sd_{{ f }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from real
),

rows as (
    -- both sides in one shape: is_real, a row id, the features
    select 1 as is_real, row_number() over () as rid, {{ features | join(', ') }} from real
    union all
    select 0, seed, {{ features | join(', ') }} from synthetic
),

long as (
    unpivot rows on {{ features | join(', ') }} into name feature value value
),

cdfs as (
    select
        feature,
        sum(is_real) over w / sum(is_real) over (partition by feature) as cdf_real,
        sum(1 - is_real) over w / sum(1 - is_real) over (partition by feature) as cdf_synthetic
    from long
    window w as (partition by feature order by value)
),

ks as (
    select feature, max(abs(cdf_real - cdf_synthetic)) as ks
    from cdfs group by feature
),

pairs as (
    select a.feature as f1, b.feature as f2, a.is_real, corr(a.value, b.value) as r
    from long a
    inner join long b on a.rid = b.rid and a.is_real = b.is_real and a.feature < b.feature
    group by all
),

correlation_gap as (
    select
        avg(abs(coalesce(r_real, 0) - coalesce(r_synthetic, 0))) as mean_abs_corr_diff,
        max(abs(coalesce(r_real, 0) - coalesce(r_synthetic, 0))) as max_abs_corr_diff
    from (
        select f1, f2,
            max(r) filter (where is_real = 1) as r_real,
            max(r) filter (where is_real = 0) as r_synthetic
        from pairs group by f1, f2
    )
),

standardized as (
    -- real rows: four in five are the reference ("train"), 500 of the rest are "holdout";
    -- 1,000 synthetic rows are compared against the same reference
    select
        case when is_real = 0 then 'synthetic' when rid % 5 <> 0 then 'train' else 'holdout' end
            as part,
        rid,
        [
        {%- for f in features -%}
        coalesce(({{ f }} - stats.mean_{{ f }}) / stats.sd_{{ f }}, 0){% if not loop.last %}, {% endif %}
        {%- endfor -%}
        ]::float[{{ n }}] as v
    from rows cross join stats
    where (is_real = 1 and (rid % 5 <> 0 or rid <= 5 * 500)) or (is_real = 0 and rid < 1000)
),

nearest as (
    select q.part, q.rid, min(array_distance(q.v, t.v)) as distance
    from (select * from standardized where part <> 'train') q
    cross join (select v from standardized where part = 'train') t
    group by q.part, q.rid
),

copies as (
    select
        median(distance) filter (where part = 'holdout') as real_median_nn,
        median(distance) filter (where part = 'synthetic') as synthetic_median_nn,
        avg(case when distance < 0.5 * (
            select median(distance) from nearest where part = 'holdout') then 1.0 else 0.0 end)
            filter (where part = 'synthetic') as near_copy_share
    from nearest
)

select
    ks.feature,
    round(ks.ks, 4) as ks,
    null::double as mean_abs_corr_diff,
    null::double as max_abs_corr_diff,
    null::double as real_median_nn,
    null::double as synthetic_median_nn,
    null::double as near_copy_share
from ks
union all
select
    '(all)',
    round((select avg(ks) from ks), 4),
    round(mean_abs_corr_diff, 4),
    round(max_abs_corr_diff, 4),
    round(real_median_nn, 4),
    round(synthetic_median_nn, 4),
    round(near_copy_share, 4)
from correlation_gap cross join copies
order by 1
