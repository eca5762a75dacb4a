-- hive_otel.collector.queries.status.session_tasks: S2, a session's live tasks (never their subject).
SELECT task_id, status, blocks, blocked_by, created_at, updated_at
FROM session_tasks{where}
ORDER BY created_at, task_id
