with source as (
    select * from {{ source('raw', 'customers') }}
)

select
    cast(customer_id as bigint) as customer_id,
    cast(home_country as varchar) as home_country,
    cast(signup_date as date) as signup_date
from source
