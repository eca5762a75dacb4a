"""The API's routes, one module per resource: :mod:`.sessions` (status), :mod:`.usage`, :mod:`.quotas`,
:mod:`.live` (SSE). Each is a FastAPI ``router``; :func:`hive_otel.collector.api.app.create_app` includes them."""
