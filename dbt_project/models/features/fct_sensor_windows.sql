-- Non-overlapping windows of var('sensor_window_seconds') readings per machine, the four
-- channels concatenated channel-major into one FLOAT[4 x window] vector (the 1-D
-- convolutional model's input_shape is [4, window]). Incomplete windows are dropped.
-- Grain: one row per machine window.

{%- set w = var('sensor_window_seconds') %}
{%- set channels = ['temperature', 'vibration', 'pressure', 'motor_current'] %}

with readings as (
    select * from {{ ref('stg_sensor_readings') }}
),

indexed as (
    select
        *,
        cast(floor(
            epoch(reading_at - min(reading_at) over (partition by machine_id)) / {{ w }}
        ) as integer) as window_index
    from readings
),

windows as (
    select
        machine_id,
        window_index,
        min(reading_at) as window_start,
        count(*) as n_readings,
        {% for c in channels -%}
        list({{ c }} order by reading_at) as {{ c }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from indexed
    group by machine_id, window_index
)

select
    cast(machine_id as bigint) * 1000000 + window_index as window_id,
    machine_id,
    window_index,
    window_start,
    cast({{ channels | join(' || ') }} as float[{{ 4 * w }}]) as readings
from windows
where n_readings = {{ w }}
