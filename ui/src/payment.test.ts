import { describe, expect, it } from "vitest";
import type { PaymentEvent, PaymentResult, UiRequest } from "./generated/types";
import { advance, headline, initial, lights, nextDue, phase, receive, tone } from "./payment";
import { dictionaries, type Key } from "./i18n";

const ui = (message: UiRequest["message"], status: UiRequest["status"], holdMs = 0): PaymentEvent => ({
  kind: "ui",
  ui: { message, status, holdMs },
});

const result = (over: Partial<PaymentResult> = {}): PaymentResult => ({
  status: "approved",
  cardOutcome: "online_request",
  ui: { message: "approved", status: "card_read_successfully", holdMs: 1500 },
  amountMinor: 2500,
  maskedPan: "476173******0010",
  authCode: "123456",
  tsc: 1,
  detail: "approved, auth code 123456",
  retry: false,
  ...over,
});

describe("payment screen", () => {
  it("walks Present card → Processing → Remove card → Authorising → Approved, honouring holds", () => {
    let s = receive(initial, ui("present_card", "ready_to_read"), 0);
    expect(phase(s)).toBe("waiting_for_card");
    expect(lights(s.shown!.ui.status)).toEqual(["on", "off", "off", "off"]);
    s = receive(s, ui("processing", "processing"), 10);
    s = receive(s, ui("card_read_ok_remove_card", "card_read_successfully", 750), 20);
    s = receive(s, ui("authorising_please_wait", "card_read_successfully"), 30);
    s = receive(s, { kind: "done", result: result() }, 40);
    // "Remove card" holds for 750 ms: the rest waits.
    expect(s.shown!.ui.message).toBe("card_read_ok_remove_card");
    expect(phase(s)).toBe("busy");
    expect(nextDue(s)).toBe(770);
    expect(advance(s, 769).shown!.ui.message).toBe("card_read_ok_remove_card");
    s = advance(s, 770);
    expect(s.shown!.result?.status).toBe("approved");
    expect(phase(s)).toBe("ended");
    expect(tone(s.shown!)).toBe("success");
    expect(nextDue(s)).toBeNull();
  });

  it("a decline ends with the alert tone", () => {
    let s = receive(initial, ui("present_card", "ready_to_read"), 0);
    s = receive(s, { kind: "done", result: result({ status: "declined", ui: { message: "not_authorised", status: "card_read_successfully", holdMs: 1500 } }) }, 5);
    expect(phase(s)).toBe("ended");
    expect(tone(s.shown!)).toBe("alert");
  });

  it("a card removed too early asks for the card again", () => {
    let s = receive(initial, ui("present_card", "ready_to_read"), 0);
    s = receive(s, ui("processing", "processing"), 1);
    s = receive(s, { kind: "done", result: result({ status: "not_completed", cardOutcome: "try_again", retry: true, ui: { message: "present_card_again", status: "ready_to_read", holdMs: 0 } }) }, 2);
    expect(phase(s)).toBe("retry");
    expect(s.shown!.ui.message).toBe("present_card_again");
    expect(tone(s.shown!)).toBe("alert");
    // Presenting again runs a new card loop from the same screen.
    s = receive(s, ui("processing", "processing"), 3);
    expect(phase(s)).toBe("busy");
  });

  it("a failure shows a processing error", () => {
    let s = receive(initial, ui("present_card", "ready_to_read"), 0);
    s = receive(s, { kind: "failed", error: { code: "no_reader", message: "x" } }, 1);
    expect(phase(s)).toBe("ended");
    expect(lights(s.shown!.ui.status)).toEqual(["off", "off", "off", "error"]);
    expect(tone(s.shown!)).toBe("alert");
  });

  it("nothing shown means idle and the four lights follow Book A", () => {
    expect(phase(initial)).toBe("idle");
    expect(lights("idle")[0]).toBe("blink");
    expect(lights("card_read_successfully")).toEqual(["on", "on", "on", "on"]);
    expect(lights("not_ready")).toEqual(["off", "off", "off", "off"]);
  });
});

describe("headline", () => {
  const done = (over: Partial<PaymentResult>) => ({ ui: over.ui ?? result().ui, result: result(over) });
  it("names the verdict, or Book A's outcome and message", () => {
    expect(headline(done({}))).toEqual({ main: "status.approved", sub: null });
    expect(headline(done({ status: "declined" }))).toEqual({ main: "status.declined", sub: null });
    const tai = done({
      status: "not_completed",
      cardOutcome: "try_another_interface",
      ui: { message: "insert_swipe_or_try_another_card", status: "processing_error", holdMs: 1500 },
    });
    expect(headline(tai)).toEqual({ main: "outcome.try_another_interface", sub: "msg.insert_swipe_or_try_another_card" });
    const again = done({ status: "not_completed", cardOutcome: "try_again", retry: true, ui: { message: "present_card_again", status: "ready_to_read", holdMs: 0 } });
    expect(headline(again).main).toBe("outcome.try_again");
    expect(headline({ ui: { message: "processing", status: "processing", holdMs: 0 } })).toEqual({ main: "msg.processing", sub: null });
  });
  it("every key it can return is translated", () => {
    const outcomes = ["try_again", "try_another_interface", "end_application"];
    for (const o of outcomes) {
      expect(dictionaries.en[`outcome.${o}` as Key]).toBeTruthy();
      expect(dictionaries["zh-CN"][`outcome.${o}` as Key]).toBeTruthy();
    }
  });
});
