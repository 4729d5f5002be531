"""WatchConversations: a user's conversations, live on every device (Vektor's sync), as
Server-Sent Events. `hints` wakes the streams of every replica when a conversation changes,
`feed` turns the owner's re-read conversations into created/changed/messages/deleted frames."""
