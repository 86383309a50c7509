import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GoldenSetError } from "./manifest.js";
import { runGoldenSet } from "./run.js";
import { formatReport } from "./table.js";

// npm run golden -- [--set DIR]
// Runs a golden set (models/ + cases/manifest.json + case files; default: the fixtures in
// test/fixtures/golden) and prints one row per case output. Exit status: 0 when every
// supported case passes, 1 when one fails, 2 when the set cannot be read or the arguments
// are wrong.

const defaultSet = fileURLToPath(new URL("../../../test/fixtures/golden", import.meta.url));
const usage = "usage: golden [--set DIR]";

function parseArgs(argv: string[]): { setDir: string } | { help: true } | { error: string } {
  let setDir = defaultSet;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") return { help: true };
    if (arg === "--set") {
      const value = argv[i + 1];
      if (value === undefined) return { error: "--set needs a directory" };
      setDir = value;
      i += 1;
    } else if (arg?.startsWith("--set=")) {
      setDir = arg.slice("--set=".length);
    } else {
      return { error: `unknown argument ${JSON.stringify(arg)}` };
    }
  }
  return { setDir };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if ("help" in args) {
    console.log(usage);
    return 0;
  }
  if ("error" in args) {
    console.error(`golden: ${args.error}\n${usage}`);
    return 2;
  }
  // npm runs workspace scripts inside native/; INIT_CWD is where the user typed the command.
  const setDir = resolve(process.env.INIT_CWD ?? process.cwd(), args.setDir);
  try {
    const report = await runGoldenSet(setDir);
    console.log(formatReport(report));
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof GoldenSetError) {
      console.error(`golden: cannot read the set: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main();
