-- How much closer to the clean data the denoising workflows get, against the input (digits)
-- or a naive fill (sensor gaps). Grain: one row per workflow.

with digits as (
    select * from {{ ref('digits_denoised') }}
),

sensors as (
    select * from {{ ref('sensor_windows_filled') }}
)

select
    'digits: gaussian noise removed' as workflow,
    'noisy input' as baseline,
    round(avg(noisy_mse), 5) as baseline_mse,
    round(avg(denoised_mse), 5) as duckae_mse,
    round(1 - avg(denoised_mse) / avg(noisy_mse), 4) as improvement
from digits
union all
select
    'sensors: 10% missing readings filled' as workflow,
    'channel mean of the window' as baseline,
    round(sum(baseline_sq_error) / sum(n_gaps), 5) as baseline_mse,
    round(sum(model_sq_error) / sum(n_gaps), 5) as duckae_mse,
    round(1 - sum(model_sq_error) / sum(baseline_sq_error), 4) as improvement
from sensors
