// Issues and revokes API keys in the KEYS namespace through wrangler, so the same command works against
// local (`wrangler dev`) storage and a deployed namespace. The key itself is printed once on stdout and
// nowhere else; everything else goes to stderr, so `KEY=$(npx tsx edge/scripts/keys.ts create ...)` works.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  API_KEY_ID_PATTERN,
  createApiKey,
  type KeyRecord,
  keyRecordKvKey,
  parseKeyRecord,
} from "../src/auth/api-keys.js";

const USAGE = `usage: npx tsx edge/scripts/keys.ts <command> [target flags]
  create --name NAME [--rpm N] [--concurrency N]   issue a key; prints it once on stdout
  revoke ID                                        delete the key with this id
  list                                             ids, names and creation dates
target flags (passed to wrangler): --local | --remote, --persist-to DIR, --env ENV`;

// wrangler finds wrangler.toml (and the KEYS binding) in its working directory.
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WRANGLER = fileURLToPath(new URL("../../node_modules/.bin/wrangler", import.meta.url));

class UsageError extends Error {}

type Flags = ReturnType<typeof parseCommandLine>["values"];

function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      rpm: { type: "string" },
      concurrency: { type: "string" },
      local: { type: "boolean" },
      remote: { type: "boolean" },
      "persist-to": { type: "string" },
      env: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** The wrangler flags that pick which KV storage to talk to. */
function targetArgs(flags: Flags): string[] {
  if (flags.local && flags.remote) throw new UsageError("--local and --remote exclude each other");
  const args = ["--binding", "KEYS"];
  if (flags.local) args.push("--local");
  if (flags.remote) args.push("--remote");
  // wrangler runs in the repository root, so a relative directory must be resolved against ours.
  if (flags["persist-to"] !== undefined) args.push("--persist-to", resolve(flags["persist-to"]));
  if (flags.env !== undefined) args.push("--env", flags.env);
  return args;
}

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0)
    throw new UsageError(`--${flag} must be a positive integer`);
  return number;
}

/** Runs wrangler; its stdout is returned when `capture`, otherwise shown on stderr with its own. */
function wrangler(args: string[], capture = false): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(WRANGLER, args, {
      cwd: REPO_ROOT,
      stdio: ["ignore", capture ? "pipe" : process.stderr, "inherit"],
    });
    let stdout = "";
    child.stdout?.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolvePromise(stdout);
      else reject(new Error(`wrangler ${args.slice(0, 3).join(" ")} exited with ${code}`));
    });
  });
}

interface ListedKey {
  readonly name: string;
  readonly metadata?: { readonly name?: unknown; readonly createdAt?: unknown };
}

async function listKeys(target: string[], prefix = "key:"): Promise<ListedKey[]> {
  const output = await wrangler(["kv", "key", "list", "--prefix", prefix, ...target], true);
  // Skip anything wrangler prints before the JSON array (banners, warnings).
  const start = output.indexOf("[");
  if (start < 0) throw new Error("wrangler kv key list printed no JSON array");
  return JSON.parse(output.slice(start)) as ListedKey[];
}

async function create(flags: Flags, target: string[]): Promise<void> {
  if (flags.name === undefined) throw new UsageError("create needs --name NAME");
  const rpm = positiveInteger("rpm", flags.rpm);
  const concurrency = positiveInteger("concurrency", flags.concurrency);
  const { key, record } = await createApiKey(flags.name, {
    ...(rpm === undefined ? {} : { rpm }),
    ...(concurrency === undefined ? {} : { concurrency }),
  });
  // Metadata lets `list` show names from one KV list call instead of one read per key.
  const metadata = JSON.stringify({ name: record.name, createdAt: record.createdAt });
  const value = JSON.stringify(record);
  await wrangler(["kv", "key", "put", keyRecordKvKey(record.id), value, "--metadata", metadata, ...target]);
  process.stderr.write(`created key ${record.id} (${record.name}); it is shown once, below:\n`);
  process.stdout.write(`${key}\n`);
}

async function revoke(id: string | undefined, target: string[]): Promise<void> {
  if (id === undefined || !API_KEY_ID_PATTERN.test(id))
    throw new UsageError("revoke needs the key's 12-character ID");
  const kvKey = keyRecordKvKey(id);
  // wrangler deletes missing keys without complaint; a typo must not look like a successful revocation.
  const listed = await listKeys(target, kvKey);
  if (!listed.some((entry) => entry.name === kvKey)) throw new Error(`no key with id ${id}`);
  await wrangler(["kv", "key", "delete", kvKey, ...target]);
  process.stderr.write(`revoked key ${id}\n`);
}

async function list(target: string[]): Promise<void> {
  for (const entry of await listKeys(target)) {
    const id = entry.name.slice("key:".length);
    const { name, createdAt } =
      entry.metadata?.name === undefined ? await readRecord(id, target) : entry.metadata;
    process.stdout.write(`${id}\t${String(name)}\t${String(createdAt ?? "")}\n`);
  }
}

// For records stored without metadata (by hand, or by an older version of this script).
async function readRecord(id: string, target: string[]): Promise<KeyRecord> {
  const json = await wrangler(["kv", "key", "get", keyRecordKvKey(id), ...target], true);
  return parseKeyRecord(json, id);
}

async function main(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseCommandLine(argv);
  const [command, ...rest] = positionals;
  if (flags.help || command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }
  const target = targetArgs(flags);
  if (command === "create") return create(flags, target);
  if (command === "revoke") return revoke(rest[0], target);
  if (command === "list") return list(target);
  throw new UsageError(`unknown command ${command}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const usage = error instanceof UsageError || (error instanceof TypeError && "code" in error);
  process.stderr.write(`keys: ${error instanceof Error ? error.message : String(error)}\n`);
  if (usage) process.stderr.write(`${USAGE}\n`);
  process.exitCode = usage ? 2 : 1;
});
