"""Contact messages: what the public contact form sends, kept for admins beside the clients
they may become (`rpcs/contact.py` for the RPCs)."""
