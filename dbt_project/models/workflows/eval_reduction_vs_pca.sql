-- Does the autoencoder beat PCA at the same code size? Held-out reconstruction error overall,
-- and the share of rows each reconstructs better. Grain: one row.

with errors as (
    select * from {{ ref('reduction_heldout_errors') }}
)

select
    any_value(code_size) as code_size,
    count(*) as heldout_rows,
    round(avg(ae_error), 5) as ae_mse,
    round(avg(pca_error), 5) as pca_mse,
    round(avg(ae_error) / avg(pca_error), 4) as ae_to_pca_ratio,
    round(avg(case when ae_error < pca_error then 1.0 else 0.0 end), 4) as share_rows_ae_better
from errors
