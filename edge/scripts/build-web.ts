import { copyFile, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

// Builds the web client (edge/web) into the static assets the worker serves (wrangler.toml's
// [assets], edge/public): app.js bundled from src/main.ts with its source map, and the page and
// stylesheet as they are. Every run rewrites the same files, so it is safe to repeat.

const WEB = fileURLToPath(new URL("../web/", import.meta.url));
export const DEFAULT_OUT_DIR = fileURLToPath(new URL("../public/", import.meta.url));

export async function buildWebClient(outDir = DEFAULT_OUT_DIR): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await Promise.all([
    build({
      entryPoints: [join(WEB, "src/main.ts")],
      outfile: join(outDir, "app.js"),
      tsconfig: join(WEB, "tsconfig.json"),
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      sourcemap: true,
      logLevel: "warning",
    }),
    copyFile(join(WEB, "index.html"), join(outDir, "index.html")),
    copyFile(join(WEB, "style.css"), join(outDir, "style.css")),
  ]);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildWebClient();
  console.log(`web client built into ${DEFAULT_OUT_DIR} in ${Math.round(performance.now() - started)} ms`);
}
