// `npm run bench` in native/: builds sana_bench (a standalone CMake project over the engine,
// so it needs neither the addon nor a model folder) and runs it. Extra arguments go to the
// benchmark, e.g. `npm run bench -- --reps 5 --height 1024 --width 1024`. With `--vae` first it
// runs the DC-AE decoder benchmark (sana_vae_bench) instead, e.g.
// `npm run bench -- --vae --sizes 512,1024 --tiled 2048 --tiled-peak 4096`. With `--gemma` first
// it runs the Gemma-2 text encoder benchmark (sana_gemma_bench), e.g.
// `npm run bench -- --gemma --tokens 300,493 --reps 2`.
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const nativeDir = fileURLToPath(new URL("..", import.meta.url));
const buildDir = join(nativeDir, "build", "bench-standalone");

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: "inherit" });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0) {
    process.exitCode = result.status ?? 1;
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}`);
  }
}

const args = process.argv.slice(2);
const targets = new Map([
  ["--vae", "sana_vae_bench"],
  ["--gemma", "sana_gemma_bench"],
]);
const selected = targets.get(args[0] ?? "");
const target = selected ?? "sana_bench";
const jobs = String(Math.min(2, availableParallelism()));
run("cmake", ["-S", join(nativeDir, "bench"), "-B", buildDir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"]);
run("cmake", ["--build", buildDir, "--target", target, "-j", jobs]);
run(join(buildDir, target), selected === undefined ? args : args.slice(1));
