-- S2, the right rail: each session's tasks with their current status and dependency edges (ids only;
-- subjects are the user's words and never leave the client). A deleted task, and every task created
-- before the session's latest task_list_reset, is gone. Duplicated events change nothing (argMax/max).
CREATE VIEW IF NOT EXISTS session_tasks {on_cluster} AS
SELECT
    t.tenant AS tenant,
    t.session AS session,
    t.task_id AS task_id,
    t.root_session AS root_session,
    t.status AS status,
    t.blocks AS blocks,
    t.blocked_by AS blocked_by,
    t.created_at AS created_at,
    t.updated_at AS updated_at
FROM (
    SELECT
        tenant,
        session,
        task_id,
        max(root_session) AS root_session,
        argMaxIf(task_status, at, task_status != '') AS status,
        argMaxIf(task_blocks, at, event_type != 'task_deleted') AS blocks,
        argMaxIf(task_blocked_by, at, event_type != 'task_deleted') AS blocked_by,
        min(at) AS created_at,
        maxIf(at, event_type != 'task_deleted') AS updated_at,
        maxIf(at, event_type = 'task_deleted') AS deleted_at
    FROM status_events
    WHERE event_type IN ('task_created', 'task_updated', 'task_deleted') AND task_id != ''
    GROUP BY tenant, session, task_id
) AS t
LEFT JOIN (
    SELECT tenant, session, max(at) AS reset_at
    FROM status_events
    WHERE event_type = 'task_list_reset'
    GROUP BY tenant, session
) AS r ON t.tenant = r.tenant AND t.session = r.session
WHERE t.deleted_at < t.updated_at AND t.updated_at > r.reset_at;
