"""OpenAI's chat wire format on the assistant's own chat machinery: a request body parsed and
checked into the stand-alone chat types (`request`), replies shaped as OpenAI's objects
(`shapes`) and framed as Server-Sent Events (`sse`). Nothing here generates: the RPCs hand the
parsed chat to `StandaloneChats`, as CompleteChat does."""
