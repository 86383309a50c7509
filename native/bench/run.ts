// `npm run bench` in native/: builds sana_bench (a standalone CMake project over the engine,
// so it needs neither the addon nor a model folder) and runs it. Extra arguments go to the
// benchmark, e.g. `npm run bench -- --reps 5 --height 1024 --width 1024`.
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

const jobs = String(Math.min(2, availableParallelism()));
run("cmake", ["-S", join(nativeDir, "bench"), "-B", buildDir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"]);
run("cmake", ["--build", buildDir, "--target", "sana_bench", "-j", jobs]);
run(join(buildDir, "sana_bench"), process.argv.slice(2));
