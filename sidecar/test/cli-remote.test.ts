import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalEdge, startLocalEdge } from "../../edge/test/support/local-edge.js";
import { ProgressReporter } from "../src/cli/progress.js";
import {
  generateRemote,
  generationsUrl,
  isRemoteGenerate,
  parseRemoteArgs,
  RemoteUsageError,
  requestInit,
} from "../src/cli/remote.js";
import { type SseEvent, SseParser, sseEvents } from "../src/cli/sse.js";
import { createLogger, DEFAULT_SIDECAR_CONFIG, type Sidecar, startSidecar } from "../src/index.js";

// `sana generate --endpoint`: its SSE reader and request building on their own, its error paths against
// a scripted HTTP server, and the whole command against the real worker (wrangler dev) in front of a
// real sidecar, spawned as a person runs it.

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "sana-cli-remote-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function parseAll(chunks: readonly (string | Uint8Array)[]): SseEvent[] {
  const parser = new SseParser();
  return chunks.flatMap((chunk) => parser.push(chunk));
}

describe("SseParser", () => {
  const stream =
    'event: sana.queued\ndata: {"position":1}\n\n: a comment\nevent: sana.progress\ndata: {"step":2}\n\n';
  const expected = [
    { event: "sana.queued", data: '{"position":1}' },
    { event: "sana.progress", data: '{"step":2}' },
  ];

  it("reads events and names unnamed ones 'message'", () => {
    expect(parseAll([stream, "data: plain\n\n"])).toEqual([...expected, { event: "message", data: "plain" }]);
  });

  it("gives the same events whatever two pieces the stream arrives in", () => {
    for (let cut = 0; cut <= stream.length; cut++)
      expect(parseAll([stream.slice(0, cut), stream.slice(cut)]), `cut at ${cut}`).toEqual(expected);
  });

  it("gives the same events one character at a time", () => {
    expect(parseAll([...stream])).toEqual(expected);
  });

  it("joins multi-line data with newlines and keeps an empty data line", () => {
    expect(parseAll(["data: one\ndata:two\ndata\ndata:  three\n\n"])).toEqual([
      { event: "message", data: "one\ntwo\n\n three" },
    ]);
  });

  it("takes CRLF and lone CR as line ends, also with CR and LF in different chunks", () => {
    const crlf = stream.replaceAll("\n", "\r\n");
    expect(parseAll([crlf])).toEqual(expected);
    expect(parseAll([stream.replaceAll("\n", "\r")])).toEqual(expected);
    for (let cut = 0; cut <= crlf.length; cut++)
      expect(parseAll([crlf.slice(0, cut), crlf.slice(cut)]), `cut at ${cut}`).toEqual(expected);
  });

  it("decodes UTF-8 split inside a character", () => {
    const bytes = new TextEncoder().encode("data: renard roux 🦊\n\n");
    const at = bytes.indexOf(0xf0) + 2;
    expect(parseAll([bytes.subarray(0, at), bytes.subarray(at)])).toEqual([
      { event: "message", data: "renard roux 🦊" },
    ]);
  });

  it("ignores events without data and never returns one the stream cut off", () => {
    expect(parseAll(["event: lonely\n\n", "id: 3\nretry: 10\n\n", "event: cut\ndata: half"])).toEqual([]);
  });

  it("reads a response body stream and a large event arriving in many pieces", async () => {
    const big = "A".repeat(3_000_000);
    const text = `event: image_generation.completed\ndata: {"b64_json":"${big}"}\n\n`;
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 65_536) controller.enqueue(bytes.subarray(at, at + 65_536));
        controller.close();
      },
    });
    const events: SseEvent[] = [];
    for await (const event of sseEvents(body)) events.push(event);
    expect(events.map((e) => [e.event, e.data.length])).toEqual([
      ["image_generation.completed", big.length + 15],
    ]);
  });
});

describe("remote request building", () => {
  const env = { SANA_API_KEY: "sk-sana-env.secret" };

  it("maps the local flags onto the API's fields", () => {
    const plan = parseRemoteArgs(
      [
        "a red fox",
        "--endpoint",
        "https://sana.example/",
        "--api-key",
        "sk-sana-flag.secret",
        "--model",
        "sana-1600m",
        "-o",
        join(dir, "fox.JPG"),
        "--width",
        "1024",
        "--height",
        "768",
        "--steps",
        "12",
        "--guidance",
        "3.5",
        "--seed",
        "42",
        "--negative",
        "blurry",
        "--sampler",
        "flow_euler",
      ],
      env,
    );
    expect(plan).toEqual({
      endpoint: "https://sana.example/",
      url: "https://sana.example/v1/images/generations",
      apiKey: "sk-sana-flag.secret",
      output: join(dir, "fox.JPG"),
      body: {
        prompt: "a red fox",
        model: "sana-1600m",
        size: "1024x768",
        output_format: "jpeg",
        stream: true,
        steps: 12,
        guidance_scale: 3.5,
        seed: 42,
        negative_prompt: "blurry",
        sampler: "flow_euler",
      },
    });
  });

  it("sends only what was given, with the local mode's 512 per missing side, and reads the environment", () => {
    const plan = parseRemoteArgs(["--prompt", "a fox", "--width", "256", "-o", "x.webp"], {
      ...env,
      SANA_ENDPOINT: "http://127.0.0.1:8787",
    });
    expect(plan?.body).toEqual({ prompt: "a fox", size: "256x512", output_format: "webp", stream: true });
    expect(plan?.apiKey).toBe(env.SANA_API_KEY);
    expect(plan?.url).toBe("http://127.0.0.1:8787/v1/images/generations");
  });

  it("builds a streaming POST with the key as a bearer token", async () => {
    const plan = parseRemoteArgs(["a fox", "--endpoint", "http://h", "--seed", "5"], env);
    if (plan === undefined) throw new Error("no plan");
    const init = requestInit(plan, new AbortController().signal);
    expect(init.method).toBe("POST");
    expect(init.headers).toMatchObject({
      authorization: "Bearer sk-sana-env.secret",
      "content-type": "application/json",
      accept: "text/event-stream",
    });
    expect(JSON.parse(String(init.body))).toEqual({
      prompt: "a fox",
      size: "512x512",
      output_format: "png",
      stream: true,
      seed: 5,
    });
  });

  it.each([
    ["https://h", "https://h/v1/images/generations"],
    ["https://h/v1", "https://h/v1/images/generations"],
    ["https://h/v1/", "https://h/v1/images/generations"],
    ["https://h/sana/", "https://h/sana/v1/images/generations"],
  ])("posts to %s as %s", (endpoint, url) => {
    expect(generationsUrl(endpoint)).toBe(url);
  });

  it.each([
    [["a fox", "--endpoint", "http://h"], {}, /--api-key KEY or set SANA_API_KEY/],
    [["a fox", "--endpoint", "http://h", "--no-instruction"], env, /--no-instruction works only locally/],
    [["a fox", "--endpoint", "not a url"], env, /--endpoint must be an http\(s\) URL/],
    [["a fox", "--endpoint", "http://h", "-o", "x.gif"], env, /--output must end in .png/],
    [["a fox", "--endpoint", "http://h", "--steps", "many"], env, /--steps must be an integer/],
    [["a fox", "--endpoint", "http://h", "--seed=-1"], env, /--seed must be an integer ≥ 0/],
    [["--endpoint", "http://h"], env, /give one prompt/],
  ])("refuses %j", (args, environment, message) => {
    expect(() => parseRemoteArgs(args, environment)).toThrow(RemoteUsageError);
    expect(() => parseRemoteArgs(args, environment)).toThrow(message);
  });

  it("chooses the edge for --endpoint or SANA_ENDPOINT, and only for generate", () => {
    expect(isRemoteGenerate(["generate", "x", "--endpoint", "http://h"], {})).toBe(true);
    expect(isRemoteGenerate(["generate", "x", "--endpoint=http://h"], {})).toBe(true);
    expect(isRemoteGenerate(["generate", "x"], { SANA_ENDPOINT: "http://h" })).toBe(true);
    expect(isRemoteGenerate(["generate", "x", "--model", "dir"], {})).toBe(false);
    expect(isRemoteGenerate(["generate", "--prompt", "--endpoint"], {})).toBe(false);
    expect(isRemoteGenerate(["serve", "--endpoint", "http://h"], { SANA_ENDPOINT: "http://h" })).toBe(false);
  });
});

describe("remote progress", () => {
  it("redraws one bar on a terminal and ends its line before what follows", () => {
    let text = "";
    const progress = new ProgressReporter({ write: (chunk: string) => (text += chunk), isTTY: true });
    progress.queued(0, 0);
    progress.step("denoising", 1, 2);
    progress.step("denoising", 2, 2);
    progress.finish();
    const bar = (filled: number) => `${"#".repeat(filled)}${".".repeat(30 - filled)}`;
    expect(text.split("\r")).toEqual([
      "",
      "queued: next\x1b[K",
      `denoising        [${bar(15)}] 1/2\x1b[K`,
      `denoising        [${bar(30)}] 2/2\x1b[K\n`,
    ]);
  });

  it("prints each change once as a plain line elsewhere", () => {
    let text = "";
    const progress = new ProgressReporter({ write: (chunk: string) => (text += chunk) });
    progress.queued(3, 0);
    progress.queued(3, 0);
    progress.queued(1, 900);
    progress.step("encoding_prompt", 0, 4);
    progress.finish();
    expect(text).toBe("queued: position 3\nqueued: position 1, about 1 s\nencoding_prompt 0/4\n");
  });
});

/** generateRemote in this process, its stderr captured. */
async function generateHere(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const io = { stderr: { write: (text: string) => (stderr += text), isTTY: false } };
  const code = await generateRemote(args, { SANA_API_KEY: "sk-sana-test.secret" }, "usage: sana", io);
  return { code, stderr };
}

/** A server answering every request with `answer`, for the error paths the edge rarely produces. */
async function scripted(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function withServer(
  answer: (req: IncomingMessage, res: ServerResponse) => void,
  test: (endpoint: string) => Promise<void>,
): Promise<void> {
  const server = await scripted(answer);
  try {
    await test(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const sseHead = { "content-type": "text/event-stream" };

describe("remote generation against a scripted server", () => {
  it("writes the completed image, even when its event arrives in pieces", async () => {
    const png = await sharp({ create: { width: 64, height: 32, channels: 3, background: "red" } })
      .png()
      .toBuffer();
    const event = `event: image_generation.completed\ndata: {"size":"64x32","seed":9,"b64_json":"${png.toString("base64")}"}\n\n`;
    const out = join(dir, "scripted.png");
    await withServer(
      (_, res) => {
        res.writeHead(200, sseHead);
        res.write('event: sana.progress\ndata: {"stage":"denoising","step":1,"total_steps":1}\n\n');
        for (let at = 0; at < event.length; at += 100) res.write(event.slice(at, at + 100));
        res.end();
      },
      async (endpoint) => {
        const { code, stderr } = await generateHere(["a fox", "--endpoint", endpoint, "-o", out]);
        expect(code, stderr).toBe(0);
        expect(stderr).toBe(`denoising 1/1\nwrote ${out} (64x32, seed 9)\n`);
        expect(readFileSync(out).equals(png)).toBe(true);
      },
    );
  });

  it("says when to retry a 429", async () => {
    await withServer(
      (_, res) => {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "12" });
        res.end(JSON.stringify({ error: { message: "Rate limit reached.", type: "requests" } }));
      },
      async (endpoint) => {
        const run = await generateHere(["a fox", "--endpoint", endpoint, "-o", join(dir, "x.png")]);
        expect(run).toEqual({ code: 1, stderr: "sana: Rate limit reached. (retry after 12 s)\n" });
      },
    );
  });

  it("reports an error event after progress", async () => {
    await withServer(
      (_, res) => {
        res.writeHead(200, sseHead);
        res.end(
          'event: sana.queued\ndata: {"position":2,"estimated_wait_ms":1500}\n\n' +
            'event: error\ndata: {"error":{"message":"The sidecar failed.","type":"server_error"}}\n\n',
        );
      },
      async (endpoint) => {
        const run = await generateHere(["a fox", "--endpoint", endpoint, "-o", join(dir, "x.png")]);
        expect(run).toEqual({
          code: 1,
          stderr: "queued: position 2, about 2 s\nsana: The sidecar failed.\n",
        });
      },
    );
  });

  it("fails when the stream ends without the image", async () => {
    await withServer(
      (_, res) => {
        res.writeHead(200, sseHead);
        res.end('event: sana.progress\ndata: {"stage":"denoising","step":1,"total_steps":3}\n\n');
      },
      async (endpoint) => {
        const run = await generateHere(["a fox", "--endpoint", endpoint, "-o", join(dir, "x.png")]);
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/sana: the stream from .* ended before the image was complete\n$/);
      },
    );
  });

  it("says an endpoint that does not answer cannot be reached", async () => {
    const server = await scripted(() => undefined);
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise((resolve) => server.close(resolve));
    const run = await generateHere(["a fox", "--endpoint", endpoint, "-o", join(dir, "x.png")]);
    expect(run).toEqual({ code: 1, stderr: `sana: cannot reach ${endpoint}: ECONNREFUSED\n` });
  });
});

// ---- the real thing: wrangler dev in front of a sidecar, the CLI as a child process ----

const SECRET = "cli-remote-test-secret-0123456789";
const MODELS = fileURLToPath(new URL("../../test/fixtures/golden/models/", import.meta.url));

let sidecar: Sidecar | undefined;
let edge: LocalEdge | undefined;
let apiKey = "";

interface CliRun {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; stderr: string }>;
  /** Resolves once stderr matches `pattern`. */
  readonly saw: (pattern: RegExp) => Promise<void>;
}

// Spawned, not spawnSync: the sidecar runs in this process and must keep serving meanwhile.
function sana(...args: string[]): CliRun {
  const child = spawn(
    join(root, "node_modules/.bin/tsx"),
    ["--conditions", "source", "sidecar/src/cli/sana.ts", ...args],
    { cwd: root, env: { ...process.env, SANA_ENDPOINT: "", SANA_API_KEY: "" } },
  );
  let stderr = "";
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const waiter of waiters) if (waiter.pattern.test(stderr)) waiter.resolve();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, stderr })),
  );
  const saw = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      waiters.push({ pattern, resolve });
      done.then(({ stderr }) => reject(new Error(`exited before ${pattern}: ${stderr}`)));
    });
  return { child, done, saw };
}

/** Denoising steps the sidecar ran, from its own metrics. */
async function stepsRun(): Promise<number> {
  const text = (await sidecar?.metrics.render()) ?? "";
  let total = 0;
  for (const match of text.matchAll(/^sana_denoise_steps_total\{[^}]*\} (\d+)$/gm)) total += Number(match[1]);
  return total;
}

function edgeArgs(): string[] {
  if (edge === undefined) throw new Error("the edge did not start");
  return ["--endpoint", edge.url, "--api-key", apiKey];
}

describe("sana generate --endpoint against the edge", () => {
  beforeAll(async () => {
    sidecar = await startSidecar({
      ...DEFAULT_SIDECAR_CONFIG,
      models: [
        { dir: `${MODELS}tiny-sana` },
        // Seconds at 4096²: long enough to interrupt in the middle.
        { dir: `${MODELS}tiny-sana-4k`, id: "slow" },
      ],
      host: "127.0.0.1",
      port: 0,
      secret: SECRET,
      log: createLogger({ level: "silent" }),
    });
    edge = await startLocalEdge({ sidecars: [{ id: "gpu-0", url: sidecar.url }], secret: SECRET });
    apiKey = await edge.createKey("cli-remote");
  }, 180_000);

  afterAll(async () => {
    await edge?.stop();
    await sidecar?.close();
  });

  it("writes the PNG the edge generated, with plain progress lines off a terminal", async () => {
    const out = join(dir, "fox.png");
    const args = ["a red fox", "-o", out, "--width", "128", "--height", "96", "--steps", "3", "--seed", "5"];
    const { code, stderr } = await sana("generate", ...args, ...edgeArgs()).done;
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/^denoising 3\/3$/m);
    expect(stderr).toContain(`wrote ${out} (128x96, seed 5)`);
    const meta = await sharp(readFileSync(out)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 128, 96]);
  });

  it("exits 1 with the server's message for a wrong key", async () => {
    const run = sana(
      "generate",
      "a fox",
      "-o",
      join(dir, "x.png"),
      ...edgeArgs(),
      "--api-key",
      "sk-sana-nope.x",
    );
    const { code, stderr } = await run.done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/^sana: Incorrect or missing API key\./m);
  });

  it("exits 1 naming size for a size the API refuses", async () => {
    const args = ["a fox", "-o", join(dir, "x.png"), "--width", "100", "--height", "100"];
    const { code, stderr } = await sana("generate", ...args, ...edgeArgs()).done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/^sana: Invalid 'size'/m);
  });

  it("exits 130 on SIGINT, and the sidecar stops the job", async () => {
    const args = ["a long walk", "--model", "slow", "--width", "4096", "--height", "4096", "--steps", "100"];
    const run = sana("generate", ...args, "-o", join(dir, "never.png"), ...edgeArgs());
    const before = await stepsRun();
    await run.saw(/denoising [1-9]\d*\/100/);
    run.child.kill("SIGINT");
    const { code, stderr } = await run.done;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/^sana: interrupted$/m);
    const deadline = Date.now() + 5_000;
    while ((sidecar?.service.getLoad().activeJobs ?? 0) > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sidecar?.service.getLoad().activeJobs).toBe(0);
    // Stopped a few steps after the interrupt, far from its 100.
    expect((await stepsRun()) - before).toBeLessThan(30);
  });
});
