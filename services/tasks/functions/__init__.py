"""The task functions this service ships; importing the package registers them all."""

from services.tasks.functions import arithmetic, demo, services, text, webhooks

__all__ = ["arithmetic", "demo", "services", "text", "webhooks"]
