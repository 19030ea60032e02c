import { describe, expect, it } from "vitest";
import { emptyEntry, formatAmount, formatBps, formatMinor, MAX_DIGITS, minorUnits, parseMinor, press, type AmountEntry, type Key } from "./money";

const type = (keys: Key[], from: AmountEntry = emptyEntry) => keys.reduce(press, from);

describe("amount entry", () => {
  it("appends digits as minor units", () => {
    const e = type(["2", "5", "0", "0"]);
    expect(minorUnits(e)).toBe(2500);
    expect(minorUnits(type(["1", "00"]))).toBe(100);
  });
  it("ignores leading zeros, deletes and clears", () => {
    expect(minorUnits(type(["0", "0", "7"]))).toBe(7);
    expect(minorUnits(type(["1", "2", "3", "back"]))).toBe(12);
    expect(minorUnits(type(["1", "2", "clear"]))).toBe(0);
    expect(minorUnits(type(["back"]))).toBe(0);
  });
  it("refuses digits beyond the maximum", () => {
    const full = type(Array<Key>(MAX_DIGITS).fill("9"));
    expect(full.digits).toHaveLength(MAX_DIGITS);
    expect(press(full, "1")).toBe(full);
    // Tampered twin: one digit fewer still accepts one more.
    const almost = type(Array<Key>(MAX_DIGITS - 1).fill("9"));
    expect(press(almost, "1").digits).toHaveLength(MAX_DIGITS);
    expect(Number.isSafeInteger(minorUnits(full))).toBe(true);
  });
});

describe("amount formatting per currency exponent", () => {
  it("places the decimal point by the exponent", () => {
    expect(formatMinor(2500, 2)).toBe("25.00");
    expect(formatMinor(5, 2)).toBe("0.05");
    expect(formatMinor(0, 2)).toBe("0.00");
    expect(formatMinor(2500, 0)).toBe("2,500");
    expect(formatMinor(1234567, 3)).toBe("1,234.567");
    expect(formatMinor(123456789, 2)).toBe("1,234,567.89");
    expect(formatMinor(2500, 2)).not.toBe("2,500");
  });
  it("never goes through a float", () => {
    // 0.1 + 0.2 style errors cannot happen: 30 minor units stay "0.30".
    expect(formatMinor(30, 2)).toBe("0.30");
    expect(formatMinor(Number.MAX_SAFE_INTEGER, 2)).toBe("90,071,992,547,409.91");
  });
  it("rejects what is not an amount", () => {
    expect(() => formatMinor(-1, 2)).toThrow(RangeError);
    expect(() => formatMinor(1.5, 2)).toThrow(RangeError);
  });
  it("adds the currency", () => {
    expect(formatAmount(2500, { alpha: "EUR", exponent: 2 })).toBe("€25.00");
    expect(formatAmount(2500, { alpha: "CNY", exponent: 2 })).toBe("¥25.00");
    expect(formatAmount(2500, { alpha: "JPY", exponent: 0 })).toBe("¥2,500");
    expect(formatAmount(2500, { alpha: "CHF", exponent: 2 })).toBe("25.00 CHF");
  });
});

describe("parseMinor (refund amounts typed by the merchant)", () => {
  it("reads major units into minor units without a float", () => {
    expect(parseMinor("12.50", 2)).toBe(1250);
    expect(parseMinor("12", 2)).toBe(1200);
    expect(parseMinor("0,5", 2)).toBe(50);
    expect(parseMinor(" 7. ", 2)).toBe(700);
    expect(parseMinor("2500", 0)).toBe(2500);
    // 0.1 + 0.2 style float errors cannot happen: digits are concatenated.
    expect(parseMinor("0.29", 2)).toBe(29);
  });
  it("refuses what is not an amount", () => {
    for (const bad of ["", "-1", "1.234", "1e3", "abc", "1.2.3", "12.5", "9999999999999"]) {
      expect(parseMinor(bad, bad === "12.5" ? 0 : 2), bad).toBeNull();
    }
  });
});

describe("fee rates", () => {
  it("formats basis points as a percentage without floats", () => {
    expect(formatBps(150)).toBe("1.50 %");
    expect(formatBps(5)).toBe("0.05 %");
    expect(formatBps(1000)).toBe("10.00 %");
    expect(formatBps(0)).toBe("0.00 %");
    expect(formatBps(-120)).toBe("−1.20 %");
    expect(() => formatBps(1.5)).toThrow(RangeError);
  });
});
