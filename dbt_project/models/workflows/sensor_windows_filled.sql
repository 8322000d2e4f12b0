-- Denoising sensor windows: 10% of the readings are knocked out (deterministically, by a hash
-- of the window and position) and filled by the `sensors` model (ae_impute: the gaps are
-- missing values, filled by iterated reconstruction; the other readings are kept). The
-- baseline fills each gap with its channel's mean in the same window.
-- Grain: one row per window.
-- depends_on: {{ ref('sensor_autoencoder') }}

{%- set m = duckae.ae_model('sensors') %}
{%- set w = var('sensor_window_seconds') %}

with windows as (
    select * from {{ ref('fct_sensor_windows') }}
),

gappy as (
    select
        window_id,
        readings,
        list_transform(range(1, {{ 4 * w }} + 1),
            lambda i: case when hash(window_id, i) % 10 = 0 then null else readings[i] end
        ) as gappy
    from windows
),

filled as (
    select
        *,
        ae_impute('{{ m.ref }}', cast(gappy as float[])) as imputed,
        list_transform(range(0, 4), lambda c: list_avg(gappy[c * {{ w }} + 1 : (c + 1) * {{ w }}]))
            as channel_means
    from gappy
)

select
    window_id,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    cast(imputed as float[{{ 4 * w }}]) as filled,
    len(list_filter(gappy, lambda v: v is null)) as n_gaps,
    -- squared error on the knocked-out readings only: the model, and the channel-mean baseline
    list_sum(list_transform(range(1, {{ 4 * w }} + 1),
        lambda i: case when gappy[i] is null then (imputed[i] - readings[i]) ^ 2 else 0 end))
        as model_sq_error,
    list_sum(list_transform(range(1, {{ 4 * w }} + 1),
        lambda i: case when gappy[i] is null
            then (channel_means[(i - 1) // {{ w }} + 1] - readings[i]) ^ 2 else 0 end))
        as baseline_sq_error
from filled
