import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../edge/test/support/local-edge.js";
import { type LocalStack, REPO_ROOT, startLocalStack } from "../local-stack.js";

// The product as a newcomer meets it: the local stack, the web client in Debian's chromium
// (driven by playwright-core), and the CLI client against the same stack.

// The 4K fixture: the page's sizes bin to 4096² there (~75 ms a step), slow enough to cancel.
const SLOW_MODEL = fileURLToPath(new URL("../../test/fixtures/golden/models/tiny-sana-4k", import.meta.url));

let stack: LocalStack;
let browser: BrowserContext;
let work: string;

function chromiumPath(): string {
  return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], {
    encoding: "utf8",
  }).trim();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "sana-web-"));
  stack = await startLocalStack({
    edgePort: await freePort(),
    sidecarPort: await freePort(),
    metricsPort: await freePort(),
    modelDir: SLOW_MODEL,
    apiKey: undefined,
    stateDir: join(work, "state"),
    log: () => undefined,
  });
  browser = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: chromiumPath(),
    headless: true,
    acceptDownloads: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Records, in the page, every image the main preview shows and when the final image appears. */
async function watchImages(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: { kind: string; src: string }[] = [];
    (window as unknown as { seen: typeof seen }).seen = seen;
    const record = (element: Element, kind: string) => {
      const src = element.getAttribute("src") ?? "";
      if (src !== "" && seen.at(-1)?.src !== src) seen.push({ kind, src });
    };
    new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        const target = mutation.target as Element;
        if (target.id === "preview") record(target, "preview");
        if (target.id === "final") record(target, "final");
      }
    }).observe(document.body, { attributes: true, attributeFilter: ["src"], subtree: true });
  });
}

async function seenImages(page: Page): Promise<{ kind: string; src: string }[]> {
  return page.evaluate(() => (window as unknown as { seen: { kind: string; src: string }[] }).seen);
}

async function canceledJobs(): Promise<number> {
  const text = await (await fetch(stack.metricsUrl)).text();
  const match = /^sana_generation_seconds_count\{[^}]*outcome="canceled"[^}]*\} (\d+)$/m.exec(text);
  return Number(match?.[1] ?? 0);
}

describe("the web client", () => {
  it("streams previews, shows the final image, downloads it, and really cancels a second generation", async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.edgeUrl}/#key=${stack.apiKey}`);
    await page.waitForFunction(
      () => (document.querySelector("#model") as HTMLSelectElement | null)?.options.length,
    );
    await watchImages(page);
    await page.fill("#prompt", "a lighthouse on a cliff at dusk");
    await page.fill("#steps", "12");
    await page.fill("#seed", "7");
    await page.selectOption("#width", "512");
    await page.selectOption("#height", "512");
    await page.click("#generate");
    await page.waitForSelector("#final[src]", { timeout: 120_000 });

    const seen = await seenImages(page);
    const firstFinal = seen.findIndex((s) => s.kind === "final");
    const previews = new Set(
      seen
        .slice(0, firstFinal)
        .filter((s) => s.kind === "preview")
        .map((s) => s.src),
    );
    expect(previews.size).toBeGreaterThanOrEqual(2);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const file = join(work, download.suggestedFilename());
    await download.saveAs(file);
    const meta = await sharp(await readFile(file)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 512, 512]);

    const cancelledBefore = await canceledJobs();
    await page.fill("#steps", "100");
    await page.fill("#seed", "");
    await page.click("#generate");
    await page.waitForFunction(
      () => /step [3-9]|step \d\d/i.test(document.querySelector("#progress-text")?.textContent ?? ""),
      undefined,
      {
        timeout: 60_000,
      },
    );
    await page.click("#cancel");
    await expect.poll(canceledJobs, { timeout: 20_000 }).toBeGreaterThan(cancelledBefore);
    await expect.poll(() => page.textContent("#status")).toMatch(/cancel/i);
    await page.screenshot({ path: join(work, "web-client.png") });
    await page.close();
  });
});

describe("the CLI client", () => {
  it("generates through the running stack and saves the image", async () => {
    const out = join(work, "cli.png");
    const cli = join(REPO_ROOT, "sidecar/src/cli/sana.ts");
    const args = ["--conditions", "source", cli, "generate", "a red fox", "--endpoint", stack.edgeUrl];
    args.push(
      "--api-key",
      stack.apiKey,
      "-o",
      out,
      "--width",
      "256",
      "--height",
      "256",
      "--steps",
      "2",
      "--seed",
      "3",
    );
    const { stderr } = await promisify(execFile)(join(REPO_ROOT, "node_modules/.bin/tsx"), args, {
      cwd: REPO_ROOT,
    });
    expect(stderr).toMatch(/wrote .*cli\.png \(256x256, seed 3\)/);
    const meta = await sharp(await readFile(out)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 256, 256]);
  });
});
