// Book A's two tones, synthesised: a single 1500 Hz beep for success and
// two short 750 Hz beeps for an alert.

import type { Tone } from "./payment";

let ctx: AudioContext | null = null;

function beep(ac: AudioContext, freq: number, start: number, seconds: number): void {
  const osc = ac.createOscillator();
  const gain = ac.createGain();
  osc.frequency.value = freq;
  gain.gain.value = 0.2;
  osc.connect(gain).connect(ac.destination);
  osc.start(ac.currentTime + start);
  osc.stop(ac.currentTime + start + seconds);
}

export function play(tone: Tone): void {
  try {
    ctx ??= new AudioContext();
    if (tone === "success") beep(ctx, 1500, 0, 0.5);
    else {
      beep(ctx, 750, 0, 0.2);
      beep(ctx, 750, 0.3, 0.2);
    }
  } catch {
    // No audio device: the screen still says it all.
  }
}
