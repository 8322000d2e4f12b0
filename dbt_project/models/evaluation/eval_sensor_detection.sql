-- How well the sensor window scores find the injected faults (labels never used to train).
-- Grain: one row per fault kind, plus 'all'.

with scores as (
    select * from {{ ref('sensor_window_scores') }}
),

labels as (
    select * from {{ source('raw', 'sensor_labels') }}
),

joined as (
    select
        scores.score,
        scores.is_anomaly as flagged,
        labels.is_fault as is_anomaly,
        labels.fault_kind as kind
    from scores
    inner join labels using (machine_id, window_index)
),

{{ detection_quality('joined') }}
