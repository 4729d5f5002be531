// Runs on the audio thread: the microphone's Float32 samples (at the AudioContext's rate) as
// 16-bit little-endian PCM, posted to the page in chunks of `chunkSamples` (100 ms at 16 kHz),
// which the page sends as the WebSocket's binary audio frames (docs/websocket.md).
class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.samples = options.processorOptions.chunkSamples;
    this.chunk = new Int16Array(this.samples);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const sample = Math.max(-1, Math.min(1, channel[i]));
      this.chunk[this.filled++] = sample < 0 ? sample * 0x8000 : sample * 0x7fff;
      if (this.filled === this.samples) {
        // Transferred, not copied: the buffer (and this.chunk's length) is gone from here.
        this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
        this.chunk = new Int16Array(this.samples);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
