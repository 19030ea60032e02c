import { describe, expect, it } from "vitest";
import { dictionaries, t } from "./i18n";

describe("translations", () => {
  it("every English string has a Chinese one and the reverse", () => {
    const en = Object.keys(dictionaries.en).sort();
    const zh = Object.keys(dictionaries["zh-CN"]).sort();
    expect(zh).toEqual(en);
  });
  it("no Chinese string is left in English, and placeholders match", () => {
    for (const [k, v] of Object.entries(dictionaries.en)) {
      const z = dictionaries["zh-CN"][k as keyof typeof dictionaries.en];
      if (v !== "") expect(z, k).not.toBe(v);
      const names = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
      expect(names(z), k).toEqual(names(v));
    }
  });
  it("fills placeholders", () => {
    expect(t("sale.charge", { amount: "€25.00" }, "en")).toBe("Charge €25.00");
    expect(t("sale.charge", { amount: "¥25.00" }, "zh-CN")).toBe("收款 ¥25.00");
    expect(t("sale.charge", {}, "en")).toBe("Charge {amount}");
  });
});
