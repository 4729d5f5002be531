"""Vicky's memory: what users told the assistant about themselves (facts, preferences,
corrections), extracted after each of their turns, kept per user with a vector, and recalled by
meaning into later turns' prompts within a token budget. Users list, edit and delete them, and
can turn memory off (their profile's `memory_enabled`)."""
