"""The meetings service: clients, projects, meetings, transcripts and summaries."""
