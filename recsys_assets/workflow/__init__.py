"""The Personalize workflow, Dagster-free: naming and tags, idempotent creates, polling, the three stages
(datasets, training, inference), what each hands to the next (``refs``), ordered teardown, cost, the
quality gate and the AWS preflight."""
