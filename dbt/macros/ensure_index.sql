{#-
    A post-hook: an index on `column` of `relation` unless it already has one led by that column. dbt's
    `indexes` config creates indexes only when a table is created, not on a table an earlier version built;
    an index named here would collide, in a full refresh, with the one of the table being replaced (still there
    until the swap commits), so PostgreSQL names it.
-#}
{% macro sellout_ensure_index(relation, column) -%}
do $$
begin
    if not exists (
        select 1
        from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
        where i.indrelid = '{{ relation }}'::regclass and a.attname = '{{ column }}'
    ) then
        execute 'create index on {{ relation }} ({{ column }})';
    end if;
end
$$
{%- endmacro %}
