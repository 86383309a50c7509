import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BackendError } from "./handler.js";
import { GoldenSetError } from "./manifest.js";
import { runGoldenSet } from "./run.js";
import { formatReport } from "./table.js";

// npm run golden -- [--set DIR] [--backend NAME]
// Runs a golden set (models/ + cases/manifest.json + case files; default: the fixtures in
// test/fixtures/golden) with its models on one engine backend (default "cpu"; "cuda" in a
// CUDA build, where bf16 GEMMs loosen the float bounds: see tolerance.ts) and prints one row
// per case output. Exit status: 0 when every supported case passes, 1 when one fails, 2 when
// the set cannot be read, the backend cannot be used, or the arguments are wrong.

const defaultSet = fileURLToPath(new URL("../../../test/fixtures/golden", import.meta.url));
const usage = "usage: golden [--set DIR] [--backend NAME (cpu, cuda; default cpu)]";

interface Args {
  setDir: string;
  backend: string;
}

function parseArgs(argv: string[]): Args | { help: true } | { error: string } {
  const args: Args = { setDir: defaultSet, backend: "cpu" };
  const options = { "--set": "setDir", "--backend": "backend" } as const;
  const needs = { setDir: "a directory", backend: "a backend name" } as const;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") return { help: true };
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (!Object.hasOwn(options, flag)) return { error: `unknown argument ${JSON.stringify(arg)}` };
    const key = options[flag as keyof typeof options];
    let value: string | undefined;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      value = argv[i + 1];
      i += 1;
    }
    if (value === undefined || value === "" || (eq < 0 && value.startsWith("--")))
      return { error: `${flag} needs ${needs[key]}` };
    args[key] = value;
  }
  return args;
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
    const report = await runGoldenSet(setDir, { backend: args.backend });
    console.log(formatReport(report));
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof GoldenSetError) {
      console.error(`golden: cannot read the set: ${error.message}`);
      return 2;
    }
    if (error instanceof BackendError) {
      console.error(`golden: cannot run the models on backend "${error.backend}": ${error.message}`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main();
