// The payment screen as a pure state machine: events from the shell are
// queued, and each Book A request stays on screen at least its hold time
// before the next replaces it. Time is an input, so tests need no clock.

import type { CommandError, PaymentEvent, PaymentResult, UiRequest, UiStatus } from "./generated/types";

export type Light = "off" | "on" | "blink" | "error";

/**
 * Book A §7.3's four status lights: idle blinks the first, ready to read
 * lights it, processing adds the second, a successful read lights all
 * four, and a processing error shows only the fourth, in red.
 */
export function lights(status: UiStatus): [Light, Light, Light, Light] {
  switch (status) {
    case "not_ready":
      return ["off", "off", "off", "off"];
    case "idle":
      return ["blink", "off", "off", "off"];
    case "ready_to_read":
      return ["on", "off", "off", "off"];
    case "processing":
      return ["on", "on", "off", "off"];
    case "card_read_successfully":
      return ["on", "on", "on", "on"];
    case "processing_error":
      return ["off", "off", "off", "error"];
  }
}

export interface Step {
  ui: UiRequest;
  result?: PaymentResult;
  error?: CommandError;
}

export interface Shown extends Step {
  /** When it appeared (ms). */
  since: number;
}

export interface PaymentState {
  shown: Shown | null;
  queue: Step[];
}

export const initial: PaymentState = { shown: null, queue: [] };

const errorUi: UiRequest = { message: "processing_error", status: "processing_error", holdMs: 0 };

function step(event: PaymentEvent): Step {
  switch (event.kind) {
    case "ui":
      return { ui: event.ui };
    case "done":
      return { ui: event.result.ui, result: event.result };
    case "failed":
      return { ui: errorUi, error: event.error };
  }
}

/** Shows queued steps whose predecessor has been up long enough. */
export function advance(state: PaymentState, now: number): PaymentState {
  let { shown } = state;
  const queue = [...state.queue];
  while (queue.length > 0) {
    if (shown && now - shown.since < shown.ui.holdMs) break;
    const next = queue.shift() as Step;
    shown = { ...next, since: now };
  }
  return { shown, queue };
}

/** Takes one event from the shell. */
export function receive(state: PaymentState, event: PaymentEvent, now: number): PaymentState {
  return advance({ shown: state.shown, queue: [...state.queue, step(event)] }, now);
}

/** When [`advance`] must run next, if something is waiting. */
export function nextDue(state: PaymentState): number | null {
  if (state.queue.length === 0 || !state.shown) return null;
  return state.shown.since + state.shown.ui.holdMs;
}

export type Phase = "idle" | "waiting_for_card" | "busy" | "retry" | "ended";

/** What the merchant may do now. */
export function phase(state: PaymentState): Phase {
  const s = state.shown;
  if (!s) return "idle";
  if (state.queue.length > 0) return "busy";
  if (s.error) return "ended";
  if (s.result) return s.result.retry ? "retry" : "ended";
  if (s.ui.message === "present_card" || s.ui.message === "present_card_again") return "waiting_for_card";
  return "busy";
}

export type Tone = "success" | "alert";

/** Book A's tones: success on approval, alert on anything else at the end. */
export function tone(shown: Step): Tone | null {
  if (shown.error) return "alert";
  if (!shown.result) return null;
  return shown.result.status === "approved" || shown.result.status === "accepted_offline" ? "success" : "alert";
}

/**
 * The big line and the one under it, as dictionary keys: the merchant's
 * verdict when the payment ended, Book A's outcome name (Try Again, Try
 * Another Interface) with its message when the card exchange did not
 * complete, and otherwise the current Book A message alone.
 */
export function headline(shown: Step): { main: string; sub: string | null } {
  const msg = `msg.${shown.ui.message}`;
  const r = shown.result;
  if (!r) return { main: msg, sub: null };
  if (r.status !== "not_completed") return { main: `status.${r.status}`, sub: null };
  switch (r.cardOutcome) {
    case "try_again":
    case "try_another_interface":
    case "end_application":
      return { main: `outcome.${r.cardOutcome}`, sub: msg };
    default:
      return { main: msg, sub: null };
  }
}
