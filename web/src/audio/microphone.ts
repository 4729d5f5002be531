// The microphone as 16 kHz mono PCM16 chunks: the browser resamples into a 16 kHz AudioContext,
// an AudioWorklet (pcm-worklet.js, served from this origin as the CSP requires) converts.
import workletUrl from "./pcm-worklet.js?url";

export const SAMPLE_RATE = 16_000;
const CHUNK_SAMPLES = SAMPLE_RATE / 10;

export interface Microphone {
  stop(): Promise<void>;
}

export async function openMicrophone(onChunk: (pcm: ArrayBuffer) => void): Promise<Microphone> {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
  });
  const context = new AudioContext({ sampleRate: SAMPLE_RATE });
  await context.audioWorklet.addModule(workletUrl);
  const source = context.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(context, "pcm-capture", {
    processorOptions: { chunkSamples: CHUNK_SAMPLES },
  });
  capture.port.onmessage = (event: MessageEvent<ArrayBuffer>) => onChunk(event.data);
  // A node that reaches no destination may never be pulled: end the graph in silence.
  const mute = context.createGain();
  mute.gain.value = 0;
  source.connect(capture).connect(mute).connect(context.destination);
  await context.resume();
  return {
    async stop() {
      capture.port.onmessage = null;
      source.disconnect();
      for (const track of stream.getTracks()) track.stop();
      await context.close();
    },
  };
}

/** Plays audio files (one WAV per sentence) one after the other, as they arrive. */
export class Player {
  private context: AudioContext | null = null;
  private next = 0;
  private sources = new Set<AudioBufferSourceNode>();

  async enqueue(data: ArrayBuffer): Promise<void> {
    this.context ??= new AudioContext();
    const buffer = await this.context.decodeAudioData(data);
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    const at = Math.max(this.context.currentTime, this.next);
    source.start(at);
    this.next = at + buffer.duration;
    this.sources.add(source);
    source.onended = () => this.sources.delete(source);
  }

  /** Barge-in: silence what is playing and what is queued. */
  interrupt(): void {
    for (const source of this.sources) source.stop();
    this.sources.clear();
    this.next = 0;
  }

  async close(): Promise<void> {
    this.interrupt();
    await this.context?.close();
    this.context = null;
  }
}
