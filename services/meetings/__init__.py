"""The meetings service: clients, projects, meetings, recordings, transcripts and summaries."""

from voka.registry import declare

DECLARATION = declare("meetings", 50057, __file__)
