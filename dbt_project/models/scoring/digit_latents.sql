-- The `digits_conv` model's code for every digit, with its reconstruction score.
-- Grain: one row per image.
-- depends_on: {{ ref('digits_conv_autoencoder') }}

{%- set m = duckae.ae_model('digits_conv') %}

with digits as (
    select * from {{ ref('fct_digits') }}
)

select
    digit_id,
    label,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    ae_encode('{{ m.ref }}', {{ duckae.ae_features('digits_conv') }}) as latent,
    ae_score('{{ m.ref }}', {{ duckae.ae_features('digits_conv') }}) as score
from digits
