import { describe, expect, it } from "vitest";
import { DICTIONARIES, initialLanguage, translator } from "./i18n";

describe("i18n", () => {
  it("has the same keys in Spanish and English, none empty", () => {
    expect(Object.keys(DICTIONARIES.es).sort()).toEqual(Object.keys(DICTIONARIES.en).sort());
    for (const dictionary of Object.values(DICTIONARIES)) {
      for (const text of Object.values(dictionary)) expect(text.trim()).not.toBe("");
    }
  });

  it("fills in placeholders and keeps unknown ones visible", () => {
    expect(translator("es")("error.retryAfter", { seconds: 30 })).toBe("Vuelve a intentarlo en 30 s.");
    expect(translator("en")("error.retryAfter")).toBe("Try again in {seconds} s.");
  });

  it("starts in Spanish unless told or the browser prefers English", () => {
    expect(initialLanguage(null, [])).toBe("es");
    expect(initialLanguage(null, ["en-GB", "es"])).toBe("en");
    expect(initialLanguage("es", ["en-US"])).toBe("es");
    expect(initialLanguage("fr", ["fr-FR"])).toBe("es");
  });
});
