// A recording from the microphone as one file (MediaRecorder's WebM/Opus), for the pages that
// upload audio whole (transcription, voice samples).
export interface Recording {
  stop(): Promise<Blob>;
}

export async function startRecording(): Promise<Recording> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const recorder = new MediaRecorder(stream);
  const chunks: Blob[] = [];
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.start();
  return {
    stop: () =>
      new Promise<Blob>((resolve) => {
        recorder.onstop = () => {
          for (const track of stream.getTracks()) track.stop();
          resolve(new Blob(chunks, { type: recorder.mimeType || "audio/webm" }));
        };
        recorder.stop();
      }),
  };
}

/** A blob's MIME type without parameters (`audio/webm;codecs=opus` -> `audio/webm`). */
export function mimeOf(blob: Blob, fallback = "application/octet-stream"): string {
  return blob.type.split(";")[0]?.trim() || fallback;
}
