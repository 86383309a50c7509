import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { REPO_ROOT } from "./manifests.js";

// The sidecar's Dockerfiles, parsed with dockerfile-ast into stages we can ask questions of.

export const DOCKERFILES = ["infra/sidecar/Dockerfile", "infra/sidecar/Dockerfile.cpu"] as const;

export interface Stage {
  readonly name: string | null;
  /** The FROM image with the file's global ARG defaults substituted. */
  readonly image: string;
  readonly instructions: readonly Instruction[];
}

export interface ParsedDockerfile {
  readonly path: string;
  readonly text: string;
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
  /** The last stage: what `docker build` produces without --target. */
  readonly runtime: Stage;
}

export function parseDockerfile(path: string): ParsedDockerfile {
  const text = readFileSync(join(REPO_ROOT, path), "utf8");
  const dockerfile = DockerfileParser.parse(text);
  const globalArgs = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    if (property) globalArgs.set(property.getName(), property.getValue() ?? "");
  }
  const substitute = (value: string) =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
      const name = braced ?? bare ?? "";
      return globalArgs.get(name) ?? whole;
    });
  const froms = dockerfile.getFROMs();
  const instructions = dockerfile.getInstructions();
  const stages = froms.map((from, i): Stage => {
    const start = from.getRange().start.line;
    const end = froms[i + 1]?.getRange().start.line ?? Number.POSITIVE_INFINITY;
    return {
      name: from.getBuildStage(),
      image: substitute(from.getImage() ?? ""),
      instructions: instructions.filter((instruction) => {
        const line = instruction.getRange().start.line;
        return line > start && line < end;
      }),
    };
  });
  const runtime = stages.at(-1);
  if (runtime === undefined) throw new Error(`${path} has no FROM`);
  return { path, text, globalArgs, stages, runtime };
}

export function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.getKeyword() === keyword);
}

/** The instruction's arguments as one line (continuations joined), e.g. a RUN's shell command. */
export function argumentsOf(instruction: Instruction): string {
  return (instruction.getArgumentsContent() ?? "").replace(/\s+/g, " ").trim();
}

/** The whole instruction as one line, flags included (`COPY --from=build a b`). */
export function fullTextOf(instruction: Instruction): string {
  return instruction.toString().replace(/\\\n/g, " ").replace(/\s+/g, " ").trim();
}

/** The exec-form (JSON array) command of an ENTRYPOINT, CMD or HEALTHCHECK ... CMD instruction. */
export function execForm(instruction: Instruction): string[] {
  const content = argumentsOf(instruction);
  const json = instruction.getKeyword() === "HEALTHCHECK" ? content.replace(/^.*?\bCMD\s+/, "") : content;
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((word) => typeof word === "string"))
    throw new Error(`${instruction.getKeyword()} is not in exec form: ${content}`);
  return parsed;
}

/** The ENV values a stage sets (later ones win). */
export function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const instruction of instructionsOf(stage, "ENV")) {
    const text = argumentsOf(instruction);
    for (const [, name, value] of text.matchAll(/(\w+)=("[^"]*"|\S+)/g))
      if (name !== undefined && value !== undefined) env.set(name, value.replace(/^"|"$/g, ""));
  }
  return env;
}

/** The uid the runtime stage creates its user with (`useradd --uid N`). */
export function runtimeUid(dockerfile: ParsedDockerfile): number {
  for (const run of instructionsOf(dockerfile.runtime, "RUN")) {
    const match = /useradd\b.*--uid (\d+)/.exec(argumentsOf(run));
    if (match?.[1]) return Number(match[1]);
  }
  throw new Error(`${dockerfile.path}: the runtime stage creates no user with a fixed uid`);
}
