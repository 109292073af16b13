{#-
    The first non-null value of `column` within a group, in `order_by` order: how the dimensions pick one
    attribute value when several sources deliver the same store or product.
-#}
{% macro first_non_null(column, order_by='source') -%}
    (array_agg({{ column }} order by {{ order_by }}) filter (where {{ column }} is not null))[1]
{%- endmacro %}
