"""The WebSocket bridge: Envoy's second door, for the browser's bidirectional audio.

Browsers cannot hold a bidirectional gRPC stream, so `/api/v1/ws/voice-chat` and
`/api/v1/ws/recognize` arrive here as WebSockets (Envoy upgrades them) and each socket is mapped
onto one existing gRPC stream, StreamVoiceChat or StreamingRecognize, with the caller's own
credential. The bridge holds no speech or assistant logic: it checks framing and bounds and
translates messages (docs/websocket.md has the protocol and every bound).
"""
