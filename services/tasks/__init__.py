"""The tasks service: the sharded priority task scheduler, its workers and webhooks."""

from voka.registry import declare

DECLARATION = declare(
    "tasks",
    50055,
    __file__,
    consumes=("voka.>",),  # webhooks follow every domain
)
