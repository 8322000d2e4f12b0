with source as (
    select * from {{ source('raw', 'transactions') }}
)

select
    cast(transaction_id as bigint) as transaction_id,
    cast(customer_id as bigint) as customer_id,
    cast(transacted_at as timestamp) as transacted_at,
    cast(amount as double) as amount,
    cast(merchant_category as varchar) as merchant_category,
    cast(channel as varchar) as channel,
    cast(country as varchar) as country
from source
