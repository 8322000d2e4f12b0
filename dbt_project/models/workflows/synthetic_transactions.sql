-- Synthetic transaction feature rows drawn from the `transactions_vae` model (ae_sample: the
-- same seed always gives the same row), decoded to the columns' types: each one-hot group
-- (channel, merchant category) takes its largest member, flags are rounded, counts are whole
-- numbers of at least 1, shares stay in [0, 1] and the hour returns to the unit circle.
-- Grain: one row per seed.
-- depends_on: {{ ref('transactions_vae') }}

{%- set m = duckae.ae_model('transactions_vae') %}
{%- set channels = ['channel_chip', 'channel_contactless', 'channel_online'] %}
{%- set categories = ['category_grocery', 'category_restaurant', 'category_fuel', 'category_retail',
                      'category_travel', 'category_electronics', 'category_digital', 'category_pharmacy'] %}

with samples as (
    select range as seed, ae_sample('{{ m.ref }}', range) as x
    from range({{ var('synthetic_rows') }})
),

raw as (
    select
        seed,
        {%- for f in m.features %}
        x[{{ loop.index }}] as {{ f }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from samples
)

select
    seed,
    {{ m.version }} as model_version,
    log_amount,
    amount_vs_customer,
    amount_vs_customer_category,
    amount_vs_category,
    hour_sin / sqrt(hour_sin ^ 2 + hour_cos ^ 2) as hour_sin,
    hour_cos / sqrt(hour_sin ^ 2 + hour_cos ^ 2) as hour_cos,
    cast(is_weekend > 0.5 as double) as is_weekend,
    cast(is_foreign > 0.5 as double) as is_foreign,
    {%- for c in channels %}
    cast({{ c }} = greatest({{ channels | join(', ') }}) as double) as {{ c }},
    {%- endfor %}
    {%- for c in categories %}
    cast({{ c }} = greatest({{ categories | join(', ') }}) as double) as {{ c }},
    {%- endfor %}
    greatest(0.0, least(1.0, category_share)) as category_share,
    log_seconds_since_prev,
    greatest(1.0, round(tx_count_1h)) as tx_count_1h,
    greatest(1.0, round(tx_count_24h)) as tx_count_24h
from raw
