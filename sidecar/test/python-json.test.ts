import { describe, expect, it } from "vitest";
import { parsePythonJson } from "../src/engine/python-json.js";

describe("parsePythonJson", () => {
  it("reads Python's NaN, Infinity and -Infinity as numbers", () => {
    const parsed = parsePythonJson('{"a": -Infinity, "b": [Infinity, NaN], "c": 1.5e3}', "x.json");
    expect(parsed).toEqual({
      a: Number.NEGATIVE_INFINITY,
      b: [Number.POSITIVE_INFINITY, Number.NaN],
      c: 1500,
    });
  });

  it("leaves the same words untouched inside strings, escaped quotes included", () => {
    const text = '{"NaN": "Infinity", "q": "say \\"-Infinity\\" NaN", "k": NaN}';
    expect(parsePythonJson(text, "x.json")).toEqual({
      NaN: "Infinity",
      q: 'say "-Infinity" NaN',
      k: Number.NaN,
    });
  });

  it("names the file when the text is not JSON", () => {
    expect(() => parsePythonJson('{"a": 1,}', "scheduler/scheduler_config.json")).toThrow(
      /^scheduler\/scheduler_config\.json: not valid JSON/,
    );
  });
});
