-- Anomaly score of every sensor window under the production `sensors` model, and the channel
-- that carries most of the error. Grain: one row per machine window.
-- depends_on: {{ ref('sensor_autoencoder') }}

{%- set m = duckae.ae_model('sensors') %}
{%- set w = var('sensor_window_seconds') %}
{%- set channels = ['temperature', 'vibration', 'pressure', 'motor_current'] %}

with windows as (
    select * from {{ ref('fct_sensor_windows') }}
),

scored as (
    select
        window_id,
        machine_id,
        window_index,
        window_start,
        ae_score('{{ m.ref }}', {{ duckae.ae_features('sensors') }}) as score,
        ae_feature_errors('{{ m.ref }}', {{ duckae.ae_features('sensors') }}) as feature_errors
    from windows
),

by_channel as (
    select
        *,
        [
            {% for c in channels -%}
            list_sum(feature_errors[{{ loop.index0 * w + 1 }}:{{ loop.index * w }}]){% if not loop.last %},{% endif %}
            {% endfor %}
        ] as channel_shares
    from scored
)

select
    window_id,
    machine_id,
    window_index,
    window_start,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    score,
    score > cast({{ m.threshold }} as double) as is_anomaly,
    {{ channels }}[list_position(channel_shares, list_max(channel_shares))] as top_channel,
    round(list_max(channel_shares), 4) as top_channel_share
from by_channel
