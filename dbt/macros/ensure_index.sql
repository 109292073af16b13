{#-
    A post-hook: an index on `columns` (a list, in order) of `relation`, of the rows `where` holds (a partial
    index; none: every row), unless it already has one led by those columns, partial or not alike (a partial
    index's condition is not compared). dbt's `indexes` config creates indexes
    only when a table is created, not on a table an earlier version built; an index named here would collide, in
    a full refresh, with the one of the table being replaced (still there until the swap commits), so PostgreSQL
    names it.
-#}
{% macro sellout_ensure_index(relation, columns, where=none) -%}
do $$
begin
    if not exists (
        select 1
        from pg_index i
        where i.indrelid = '{{ relation }}'::regclass
          and (i.indpred is {{ 'not ' if where else '' }}null)
          and (
              select array_agg(a.attname::text order by key.position)
              from unnest(i.indkey::int2[]) with ordinality as key(attnum, position)
              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = key.attnum
              where key.position <= {{ columns | length }}
          ) = array['{{ columns | join("', '") }}']::text[]
    ) then
        execute 'create index on {{ relation }} ({{ columns | join(", ") }}){{ " where " ~ where if where else "" }}';
    end if;
end
$$
{%- endmacro %}
