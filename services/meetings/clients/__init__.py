"""Clients and projects: the rows one user owns, which meetings, chat and insights hang off."""
