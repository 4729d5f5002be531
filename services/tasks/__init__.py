"""The tasks service: the sharded priority task scheduler, its workers and webhooks."""
