with source as (
    select * from {{ source('raw', 'digits') }}
)

select
    cast(digit_id as bigint) as digit_id,
    cast(label as integer) as label,
    -- pixels run 0..16 in the source; scale to [0, 1]
    cast(list_transform(pixels, lambda p: p / 16.0) as float[64]) as pixels,
    cast(list_transform(noisy_pixels, lambda p: p / 16.0) as float[64]) as noisy_pixels
from source
