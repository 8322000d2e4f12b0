-- The noisy digits cleaned by the `digits_denoising` model (ae_reconstruct returns pixels in
-- the input's own units), with how far each version is from the clean image.
-- Grain: one row per image.
-- depends_on: {{ ref('digits_denoising_autoencoder') }}

{%- set m = duckae.ae_model('digits_denoising') %}

with digits as (
    select * from {{ ref('fct_digits') }}
),

denoised as (
    select
        digit_id,
        label,
        pixels,
        noisy_pixels,
        -- the model reads `pixels`; feed it the noisy image in that column's place
        ae_reconstruct('{{ m.ref }}', cast(noisy_pixels as float[])) as denoised_pixels
    from digits
)

select
    digit_id,
    label,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    cast(list_transform(denoised_pixels, lambda p: greatest(0.0, least(1.0, p))) as float[64])
        as denoised_pixels,
    list_sum(list_transform(list_zip(pixels, noisy_pixels), lambda p: (p[1] - p[2]) ^ 2)) / 64.0
        as noisy_mse,
    list_sum(list_transform(list_zip(pixels, denoised_pixels),
        lambda p: (p[1] - greatest(0.0, least(1.0, p[2]))) ^ 2)) / 64.0 as denoised_mse
from denoised
