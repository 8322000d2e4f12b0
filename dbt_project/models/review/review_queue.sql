-- What an analyst works: every flagged transaction with its latest decision (if any), highest
-- score first. Open items have status 'open'. Decisions come from review.decisions, which dbt
-- never writes; record one with
--   insert into review.decisions (queue, item_id, decision, reviewer, note)
--   values ('transactions', <transaction_id>, 'confirmed' | 'dismissed', '<you>', '<why>');
-- Grain: one row per flagged transaction.
{{ config(materialized='view') }}

with items as (
    select * from {{ ref('review_queue_items') }}
),

decisions as (
    select * from {{ source('review', 'decisions') }}
    where queue = 'transactions'
    qualify row_number() over (
        partition by item_id order by decided_at desc, decision_id desc
    ) = 1
)

select
    row_number() over (order by items.score desc, items.transaction_id) as review_rank,
    coalesce(decisions.decision, 'open') as status,
    items.*,
    decisions.reviewer,
    decisions.note,
    decisions.decided_at
from items
left join decisions on decisions.item_id = items.transaction_id
