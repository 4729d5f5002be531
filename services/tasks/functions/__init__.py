"""The task functions this service ships; importing the package registers them all."""

from services.tasks.functions import arithmetic, demo, text

__all__ = ["arithmetic", "demo", "text"]
