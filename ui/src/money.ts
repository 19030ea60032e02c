// Amounts are integer minor units end to end (no floats for money): the
// keypad appends digits to a minor-unit count, and formatting inserts the
// decimal point by string position according to the currency exponent.

/** Longest amount the keypad accepts, in digits (10^12 - 1 minor units). */
export const MAX_DIGITS = 12;

/** The keypad's state: the digits typed so far, without leading zeros. */
export interface AmountEntry {
  digits: string;
}

export const emptyEntry: AmountEntry = { digits: "" };

export type Key = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "00" | "back" | "clear";

/** Applies one key press. Keys that would overflow are ignored. */
export function press(entry: AmountEntry, key: Key): AmountEntry {
  if (key === "clear") return emptyEntry;
  if (key === "back") return { digits: entry.digits.slice(0, -1) };
  const next = (entry.digits + key).replace(/^0+/, "");
  if (next.length > MAX_DIGITS) return entry;
  return { digits: next };
}

/** The amount typed, in minor units. */
export function minorUnits(entry: AmountEntry): number {
  return entry.digits === "" ? 0 : Number.parseInt(entry.digits, 10);
}

/** Groups an integer string by thousands. */
function group(intPart: string, sep: string): string {
  return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, sep);
}

/**
 * "25.00" for 2500 with exponent 2, "2,500" for 2500 with exponent 0,
 * "0.05" for 5 with exponent 2. Never goes through a float.
 */
export function formatMinor(minor: number, exponent: number): string {
  if (!Number.isSafeInteger(minor) || minor < 0) throw new RangeError(`not an amount: ${minor}`);
  const digits = String(minor).padStart(exponent + 1, "0");
  const intPart = digits.slice(0, digits.length - exponent);
  const frac = digits.slice(digits.length - exponent);
  return exponent > 0 ? `${group(intPart, ",")}.${frac}` : group(intPart, ",");
}

const SYMBOLS: Record<string, string> = { EUR: "€", CNY: "¥", USD: "$", GBP: "£", JPY: "¥" };

/** "€25.00", "¥25.00", or "25.00 CHF" when no symbol is known. */
export function formatAmount(minor: number, currency: { alpha: string; exponent: number }): string {
  const n = formatMinor(minor, currency.exponent);
  const sym = SYMBOLS[currency.alpha];
  return sym ? `${sym}${n}` : `${n} ${currency.alpha}`;
}

/**
 * "12.50" (exponent 2) to 1250, "12" to 1200, "0,5" to 50; null for
 * anything else (too many decimals, signs, letters). Never a float.
 */
export function parseMinor(text: string, exponent: number): number | null {
  const m = text.trim().replace(",", ".").match(/^(\d{1,12})(?:\.(\d*))?$/);
  if (!m) return null;
  const frac = m[2] ?? "";
  if (frac.length > exponent) return null;
  const n = Number.parseInt(m[1] + frac.padEnd(exponent, "0"), 10);
  return Number.isSafeInteger(n) ? n : null;
}

/** A fee rate in basis points as a percentage: 150 to "1.50 %". Integer
 * arithmetic only, like the acquirer's and the receipt's. */
export function formatBps(bps: number): string {
  if (!Number.isSafeInteger(bps)) throw new RangeError(`not a rate: ${bps}`);
  const a = Math.abs(bps);
  return `${bps < 0 ? "−" : ""}${Math.trunc(a / 100)}.${String(a % 100).padStart(2, "0")} %`;
}
