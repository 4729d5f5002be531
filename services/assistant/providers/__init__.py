"""Model providers behind one interface (`base.ChatProvider`), found by model id (`registry`)."""
