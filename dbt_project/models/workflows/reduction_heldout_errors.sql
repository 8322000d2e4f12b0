-- Dimensionality reduction, checked: the reconstruction error of every held-out training-window
-- row (the rows the training job kept for validation) under the `transactions` autoencoder and
-- under `transactions_pca`, PCA with the same code size fitted in the same job.
-- Errors are plain mean squared errors in standardized units (ae_reconstruction_error).
-- Grain: one row per held-out transaction.
-- depends_on: {{ ref('transactions_autoencoder') }}

{%- set ae = duckae.ae_model('transactions') %}
{%- set pca = duckae.ae_model('transactions_pca') %}

with rows as (
    select * from {{ ref('fct_transaction_training_rows') }}
    -- the training job's validation split: hash of the key and the seed (0)
    where hash(cast(transaction_id as varchar), 0) % 10000 < 1000
)

select
    transaction_id,
    {{ ae.latent_dim }} as code_size,
    ae_reconstruction_error('{{ ae.ref }}', {{ duckae.ae_features('transactions') }}) as ae_error,
    ae_reconstruction_error('{{ pca.ref }}', {{ duckae.ae_features('transactions_pca') }}) as pca_error
from rows
