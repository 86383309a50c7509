import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, transform } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWebClient } from "../scripts/build-web.js";

// The web client's build (edge/scripts/build-web.ts), and its one piece of logic that needs no
// browser: the server-sent events parser, bundled on its own and run here.

let outDir: string;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), "sana-web-"));
});

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe("buildWebClient", () => {
  it("writes the page, its stylesheet and the bundled script", async () => {
    await buildWebClient(outDir);
    await buildWebClient(outDir); // idempotent
    expect((await readdir(outDir)).sort()).toEqual(["app.js", "app.js.map", "index.html", "style.css"]);

    const app = await readFile(join(outDir, "app.js"), "utf8");
    // Parsing as plain JavaScript fails on anything TypeScript left behind.
    await expect(transform(app, { loader: "js", format: "esm" })).resolves.toBeDefined();
    expect(app).not.toMatch(/^import\s/m);

    const html = await readFile(join(outDir, "index.html"), "utf8");
    expect(html).toContain('src="./app.js"');
    expect(html).toContain('href="./style.css"');
    // The ids browser tests and the script rely on.
    for (const id of [
      "api-key",
      "prompt",
      "negative-prompt",
      "width",
      "height",
      "seed",
      "steps",
      "guidance",
      "format",
      "model",
      "generate",
      "cancel",
      "status",
      "progress",
      "preview",
      "final",
      "download",
      "error",
    ]) {
      expect(html).toContain(`id="${id}"`);
    }
  });
});

interface SseModule {
  SseParser: new () => { push(text: string): { event: string; data: string }[] };
}

describe("SseParser", () => {
  let SseParser: SseModule["SseParser"];

  beforeAll(async () => {
    const web = fileURLToPath(new URL("../web/src/sse.ts", import.meta.url));
    const bundle = await build({ entryPoints: [web], bundle: true, format: "esm", write: false });
    const file = join(outDir, "sse.mjs");
    await writeFile(file, bundle.outputFiles[0]?.text ?? "");
    ({ SseParser } = (await import(pathToFileURL(file).href)) as SseModule);
  });

  const stream =
    ': comment\r\nevent: sana.queued\r\ndata: {"position":1}\r\n\r\n' +
    "event: sana.progress\rdata: a\rdata:b\r\r" +
    'event: image_generation.completed\ndata: {"b64_json":"QUJD"}\n\n' +
    "data: plain\n\n" +
    "event: cut-off\ndata: never dispatched";
  const expected = [
    { event: "sana.queued", data: '{"position":1}' },
    { event: "sana.progress", data: "a\nb" },
    { event: "image_generation.completed", data: '{"b64_json":"QUJD"}' },
    { event: "message", data: "plain" },
  ];

  it("parses a stream pushed whole", () => {
    expect(new SseParser().push(stream)).toEqual(expected);
  });

  it("parses the same stream split at every position (CRLF split included)", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const parser = new SseParser();
      const messages = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))];
      expect(messages, `split at ${cut}`).toEqual(expected);
    }
  });

  it("joins a long data line pushed in many pieces", () => {
    const parser = new SseParser();
    const b64 = "A".repeat(100_000);
    const text = `event: image_generation.completed\ndata: ${b64}\n\n`;
    const messages = [];
    for (let i = 0; i < text.length; i += 1000) messages.push(...parser.push(text.slice(i, i + 1000)));
    expect(messages).toEqual([{ event: "image_generation.completed", data: b64 }]);
  });
});
