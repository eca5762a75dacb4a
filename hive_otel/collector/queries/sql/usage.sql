-- hive_otel.collector.queries.usage: usage grouped by keys over one table, half-open in time.
-- {table} is usage_daily, usage_hourly or usage_facts FINAL; {measures} are sums over a rollup, or
-- counts and sums over the facts; {grouping} drops groups whose calls all moved to another key.
SELECT {columns}
FROM {table}{where}{grouping}
