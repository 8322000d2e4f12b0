with source as (
    select * from {{ source('raw', 'sensor_readings') }}
)

select
    cast(machine_id as integer) as machine_id,
    cast(reading_at as timestamp) as reading_at,
    cast(temperature as double) as temperature,
    cast(vibration as double) as vibration,
    cast(pressure as double) as pressure,
    cast(current as double) as motor_current
from source
