-- The rows the transactions model learns from: the training window
-- [var('training_start'), var('training_cutoff')). Earlier rows are history burn-in; later
-- rows are scored but never trained on.
-- Grain: one row per transaction in the window.

with features as (
    select * from {{ ref('fct_transaction_features') }}
)

select *
from features
where transacted_at >= cast('{{ var("training_start") }}' as timestamp)
    and transacted_at < cast('{{ var("training_cutoff") }}' as timestamp)
