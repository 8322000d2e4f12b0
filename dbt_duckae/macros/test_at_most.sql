{% test at_most(model, column_name, maximum) %}
-- Rows where `column_name` is above `maximum` (monitoring bounds; used with severity warn).
select *
from {{ model }}
where {{ column_name }} > {{ maximum }}
{% endtest %}
