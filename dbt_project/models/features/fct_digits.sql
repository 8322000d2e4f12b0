-- The digit images as model inputs. Grain: one row per image.

with digits as (
    select * from {{ ref('stg_digits') }}
)

select
    digit_id,
    label,
    pixels,
    noisy_pixels,
    -- how far the noisy copy is from the clean image (mean squared error per pixel)
    list_sum(list_transform(list_zip(pixels, noisy_pixels), lambda p: (p[1] - p[2]) ^ 2)) / 64.0
        as noise_mse
from digits
