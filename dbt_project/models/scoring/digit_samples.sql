-- New digit images drawn from the `digits_vae` model: ae_sample(model, seed) decodes a draw
-- from the prior; the same seed always gives the same image. Grain: one row per seed.
-- depends_on: {{ ref('digits_vae') }}

{%- set m = duckae.ae_model('digits_vae') %}

with seeds as (
    select range as seed from range({{ var('digit_samples') }})
)

select
    seed,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    cast(list_transform(ae_sample('{{ m.ref }}', seed), lambda p: greatest(0.0, least(1.0, p)))
        as float[64]) as pixels
from seeds
