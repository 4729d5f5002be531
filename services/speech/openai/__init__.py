"""OpenAI's audio API in the speech service's terms: the multipart form and the JSON body read
into the contract's requests, OpenAI's model and voice names mapped onto Voka's, and the
transcript written in OpenAI's response formats (json, text, srt, vtt, verbose_json, and the
`transcript.text.*` Server-Sent Events). The handlers (`services/speech/rpcs/openai.py`) run
the work through the same `Recognition` and `Synthesis` as SpeechService."""
