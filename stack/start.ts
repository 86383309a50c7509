// `npm start`: the local stack (sidecar + edge worker) on fixed ports until Ctrl-C.
import { type LocalStack, stackOptionsFromEnv, startLocalStack } from "./local-stack.js";

const quiet = process.env.SANA_STACK_LOGS === "0";
const log = (line: string) => {
  if (!quiet || !line.startsWith("[")) process.stderr.write(`${line}\n`);
};

function banner(stack: LocalStack): string {
  const page = `${stack.edgeUrl.replace("127.0.0.1", "localhost")}/#key=${stack.apiKey}`;
  return [
    "",
    "sana-edge is running.",
    `  web client   ${page}`,
    `  API          ${stack.edgeUrl}/v1 (OpenAI Images API; Authorization: Bearer <key>)`,
    `  API key      ${stack.apiKey}`,
    `  model        ${stack.modelId}${process.env.SANA_MODEL_DIR ? "" : " (embedded, random weights: its images are noise)"}`,
    `  sidecar      ${stack.sidecarUrl} (metrics ${stack.metricsUrl})`,
    "Ctrl-C stops everything.",
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const stack = await startLocalStack(stackOptionsFromEnv(process.env, log));
  process.stdout.write(banner(stack));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write("stopping…\n");
    stack.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(
          `sana: stopping failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`sana: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
