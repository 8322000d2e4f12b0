-- Numeric features of each transaction, with the customer's history up to (not including) it.
-- Grain: one row per transaction. NULL history features (a customer's first transaction) are
-- left NULL: the model imputes them with the training mean, which it stores.

with transactions as (
    select * from {{ ref('stg_transactions') }}
),

customers as (
    select * from {{ ref('stg_customers') }}
),

joined as (
    select
        transactions.*,
        customers.home_country,
        ln(1 + transactions.amount) as log_amount,
        extract(hour from transactions.transacted_at)
            + extract(minute from transactions.transacted_at) / 60.0 as hour_of_day
    from transactions
    inner join customers using (customer_id)
),

with_history as (
    select
        *,
        -- the customer's typical (median) log amount before this transaction
        median(log_amount) over prior_rows as typical_log_amount,
        -- ... and in this merchant category
        median(log_amount) over prior_same_category_rows as typical_category_log_amount,
        -- rounded: a parallel sum's last bits vary between runs, and the training job's
        -- data fingerprint must not (equal data must never retrain)
        round(avg(log_amount) over (partition by merchant_category), 8) as category_log_amount,
        count(*) over prior_rows as prior_count,
        count(*) over prior_same_category_rows as prior_same_category,
        lag(transacted_at) over (
            partition by customer_id order by transacted_at, transaction_id
        ) as previous_at,
        count(*) over (
            partition by customer_id order by transacted_at
            range between interval 1 hour preceding and current row
        ) as tx_count_1h,
        count(*) over (
            partition by customer_id order by transacted_at
            range between interval 24 hours preceding and current row
        ) as tx_count_24h
    from joined
    window
        prior_rows as (
            partition by customer_id order by transacted_at, transaction_id
            rows between unbounded preceding and 1 preceding
        ),
        prior_same_category_rows as (
            partition by customer_id, merchant_category order by transacted_at, transaction_id
            rows between unbounded preceding and 1 preceding
        )
),

features as (
    select
        transaction_id,
        customer_id,
        transacted_at,
        cast(log_amount as double) as log_amount,
        cast(log_amount - typical_log_amount as double) as amount_vs_customer,
        cast(log_amount - typical_category_log_amount as double) as amount_vs_customer_category,
        cast(log_amount - category_log_amount as double) as amount_vs_category,
        sin(2 * pi() * hour_of_day / 24) as hour_sin,
        cos(2 * pi() * hour_of_day / 24) as hour_cos,
        cast(isodow(transacted_at) >= 6 as double) as is_weekend,
        cast(country <> home_country as double) as is_foreign,
        {% for channel in ['chip', 'contactless', 'online'] -%}
        cast(channel = '{{ channel }}' as double) as channel_{{ channel }},
        {% endfor -%}
        {% for category in ['grocery', 'restaurant', 'fuel', 'retail', 'travel', 'electronics', 'digital', 'pharmacy'] -%}
        cast(merchant_category = '{{ category }}' as double) as category_{{ category }},
        {% endfor -%}
        cast(prior_same_category as double) / nullif(prior_count, 0) as category_share,
        ln(1 + epoch(transacted_at) - epoch(previous_at)) as log_seconds_since_prev,
        cast(tx_count_1h as double) as tx_count_1h,
        cast(tx_count_24h as double) as tx_count_24h
    from with_history
)

select
    *,
    {{ duckae.ae_vector(var('transaction_features')) }} as feature_vector
from features
