-- The production `transactions` model's latent code of every transaction, as one FLOAT[k]
-- column and unpacked z_1 ... z_k columns. Grain: one row per transaction.
-- depends_on: {{ ref('transactions_autoencoder') }}

{%- set m = duckae.ae_model('transactions') %}

with features as (
    select * from {{ ref('fct_transaction_features') }}
),

encoded as (
    select
        transaction_id,
        ae_encode('{{ m.ref }}', {{ duckae.ae_features('transactions') }}) as latent
    from features
)

select
    transaction_id,
    '{{ m.name }}' as model_name,
    {{ m.version }} as model_version,
    latent,
    {{ duckae.ae_latent_columns('transactions', 'latent') }}
from encoded
