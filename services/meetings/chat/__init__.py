"""A project's chat and the service's search: passages of the content a caller may see,
ranked against a question."""
