{#-
  duckae macros: build model inputs from the registry's recorded feature list, so the order of a
  feature vector always matches what the model was trained on.

  duckae.ae_model(name)       -> dict(ref, name, version, features, threshold, latent_dim), resolving
                          'name' to its production version (else the newest) at compile time.
  duckae.ae_features(name)    -> SQL for the model's input vector: [f1, f2, ...]::FLOAT[d]
  ae_ref(name)         -> the pinned reference as a SQL string literal, e.g. 'transactions@3'
  duckae.ae_vector(columns)   -> SQL for [c1, c2, ...]::FLOAT[d] from a list of column names
  ae_latent_columns(name, column) -> z_1, ..., z_k unpacked from a latent FLOAT[] column
  ae_reasons(name, n)  -> the n reason groups with the largest share of the score, as a list
                          of {share, reason} (ae_attributions: how much the score drops when
                          the group is treated as missing)
-#}

{% macro ae_registry() -%}
  {{ var('duckae_schema', 'duckae') }}
{%- endmacro %}

{% macro ae_model(name) %}
  {% if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]{0,62}$', name) %}
    {{ exceptions.raise_compiler_error("duckae: invalid model name '" ~ name ~ "': use letters, digits and '_'") }}
  {% endif %}
  {% if not execute %}
    {{ return({'ref': name, 'name': name, 'version': 0, 'features': ['__parse_only__'], 'inputs': [], 'groups': ['__parse_only__'], 'threshold': 0, 'latent_dim': 1, 'input_shape': none}) }}
  {% endif %}
  {% set query %}
    with versions as (
        select * from {{ duckae.ae_registry() }}.model_versions where name = '{{ name }}'
    ),
    chosen as (
        select coalesce(
            (select version from {{ duckae.ae_registry() }}.model_aliases
             where name = '{{ name }}' and alias = 'production'),
            (select max(version) from versions)
        ) as version
    )
    select versions.version, versions.feature_names, versions.threshold, versions.latent_dim,
           versions.preprocessing, versions.input_shape
    from versions inner join chosen using (version)
  {% endset %}
  {% set result = run_query(query) %}
  {% if result | length == 0 %}
    {{ exceptions.raise_compiler_error("duckae: no model named '" ~ name ~ "' in " ~ duckae.ae_registry() ~ ".model_versions; train it first (a training model upstream, or `duckae train`)") }}
  {% endif %}
  {% set row = result.rows[0] %}
  {# DuckDB lists arrive as Python lists or as their JSON text, depending on the adapter #}
  {% set features = fromjson(row[1]) if row[1] is string else row[1] | list %}
  {% set pre = fromjson(row[4]) %}
  {% set inputs = pre.get('input_columns') or [] %}
  {% set groups = (pre.get('feature_groups') or {}).keys() | list or features %}
  {{ return({
      'ref': name ~ '@' ~ row[0],
      'name': name,
      'version': row[0],
      'features': features,
      'inputs': inputs,
      'groups': groups,
      'threshold': row[2],
      'latent_dim': row[3],
      'input_shape': row[5],
  }) }}
{% endmacro %}

{% macro ae_vector(columns) -%}
  [{% for column in columns %}cast({{ adapter.quote(column) }} as float){% if not loop.last %}, {% endif %}{% endfor %}]::FLOAT[{{ columns | length }}]
{%- endmacro %}

{% macro ae_features(name) -%}
  {%- set m = duckae.ae_model(name) -%}
  {%- if m.inputs | length == 0 -%}
    {{ duckae.ae_vector(m.features) }}
  {%- else -%}
    {#- the same SQL as training.data.vector_sql: scalars in a list, arrays concatenated -#}
    {%- set parts = [] -%}
    {%- set scalars = [] -%}
    {%- for c in m.inputs -%}
      {%- if c.width is none -%}
        {%- do scalars.append('cast(' ~ adapter.quote(c.name) ~ ' as float)') -%}
      {%- else -%}
        {%- if scalars | length > 0 -%}
          {%- do parts.append('[' ~ scalars | join(', ') ~ ']') -%}
          {%- do scalars.clear() -%}
        {%- endif -%}
        {%- do parts.append('cast(' ~ adapter.quote(c.name) ~ ' as float[])') -%}
      {%- endif -%}
    {%- endfor -%}
    {%- if scalars | length > 0 -%}{%- do parts.append('[' ~ scalars | join(', ') ~ ']') -%}{%- endif -%}
    cast({{ parts | join(' || ') }} as FLOAT[{{ m.features | length }}])
  {%- endif -%}
{%- endmacro %}

{% macro ae_ref(name) -%}
  '{{ duckae.ae_model(name).ref }}'
{%- endmacro %}

{% macro ae_latent_columns(name, column='latent') -%}
  {%- set k = duckae.ae_model(name).latent_dim -%}
  {%- for i in range(1, k + 1) %}
  {{ column }}[{{ i }}] as z_{{ i }}{% if not loop.last %},{% endif %}
  {%- endfor %}
{%- endmacro %}

{% macro ae_reasons(name, n=3) -%}
  {%- set m = duckae.ae_model(name) -%}
  list_slice(
      list_sort(
          list_transform(
              list_zip({{ m.groups }}, ae_attributions('{{ m.ref }}', {{ duckae.ae_features(name) }})),
              -- share first, so sorting the structs sorts by share
              lambda r: {'share': round(cast(r[2] as double), 4), 'reason': r[1]}
          ),
          'DESC'
      ),
      1, {{ n }}
  )
{%- endmacro %}
