"""Tests of the meetings service."""
