"""The meetings service: clients, projects, meetings, transcripts and summaries.

Built so far: clients and projects (CRUD, lists, stats), each row owned by the user who created
it. Meetings, recordings, transcripts, summaries and the AI features still answer UNIMPLEMENTED.
"""
