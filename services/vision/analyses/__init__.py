"""Analyses: an image through the engines, and the history of what they found."""
