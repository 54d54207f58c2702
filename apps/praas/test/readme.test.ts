/**
 * The README's copy of `praas help` is the generated text itself: a setting
 * added, removed or given a new default shows up here as a failing test, not
 * as a README that drifted.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { USAGE } from "../src/index.js";

describe("apps/praas/README.md", () => {
  it("holds `praas help` exactly as the settings generate it", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const block = /<!-- praas help:[^\n]*-->\n```text\n([\s\S]*?)\n```\n<!-- end praas help -->/.exec(readme);
    expect(block, "the README has no generated `praas help` block").not.toBeNull();
    expect((block as RegExpExecArray)[1]).toBe(USAGE.replace(/\n+$/, ""));
  });
});
