// pcm-worklet.js runs on the audio thread and exports nothing; importing it (its unit test)
// runs its registerProcessor call.
export {};
