import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { JsonValue } from "../lib/index.js";
import { createSampler, type Sampler, samplerBinding } from "../lib/sampler.js";
import { modelsDir } from "./helpers/fixtures.js";

// Behaviour of the samplers beyond the golden scheduler cases (which the golden runner test
// covers): configuration from model folders, rejected configurations, the step-order rules
// at 1-3 steps, the pipeline-side conversions, guidance, and misuse.

const f = Math.fround;
const sanaModel = join(modelsDir, "tiny-sana");
const sprintModel = join(modelsDir, "tiny-sana-sprint");
const teacherModel = join(modelsDir, "tiny-sana-sprint-teacher");

function sanaSchedulerConfig(): Record<string, JsonValue> {
  const text = readFileSync(join(sanaModel, "scheduler", "scheduler_config.json"), "utf8");
  // Python's json writes -Infinity (lambda_min_clipped); JSON.parse cannot read it.
  return JSON.parse(text.replace("-Infinity", '"-Infinity"')) as Record<string, JsonValue>;
}

function dpmConfig(changes: Record<string, JsonValue>): Record<string, JsonValue> {
  return { ...sanaSchedulerConfig(), ...changes };
}

function seeded(n: number, seed: number): Float32Array {
  // A fixed, deterministic spread of values in (-2, 2).
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i += 1) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648) * 4 - 2;
  }
  return out;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i += 1) {
    diff += ((a[i] ?? 0) - (b[i] ?? 0)) ** 2;
    norm += (b[i] ?? 0) ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** DPM-Solver++ first-order update in float32 arithmetic (JS log/exp, so not bit-exact). */
function firstOrder(sample: Float32Array, v: Float32Array, sigmaS: number, sigmaT: number): Float32Array {
  const lambda = (s: number) => f(f(Math.log(f(1 - s))) - f(Math.log(s)));
  const h = f(lambda(sigmaT) - lambda(sigmaS));
  const a = f(sigmaT / sigmaS);
  const b = f(f(1 - sigmaT) * f(f(Math.exp(-h)) - 1));
  return sample.map((x, i) => f(f(a * x) - f(b * f(x - f(sigmaS * (v[i] ?? 0))))));
}

describe("samplers configured from diffusers model folders", () => {
  it("picks DPM-Solver for a SanaPipeline folder and SCM for a Sana-Sprint folder", () => {
    expect(createSampler({ modelPath: sanaModel, steps: 4 }).kind).toBe("flow_dpm_solver");
    expect(createSampler({ modelPath: sprintModel, steps: 2 }).kind).toBe("scm");
  });

  it("gives DPM-Solver int64 timesteps truncated from sigma * 1000 and sigmas ending at 0", () => {
    const sampler = createSampler({ modelPath: sanaModel, steps: 4 });
    const timesteps = sampler.timesteps();
    expect(timesteps).toBeInstanceOf(BigInt64Array);
    const sigmas = sampler.sigmas();
    expect(sigmas.length).toBe(5);
    expect(sigmas[4]).toBe(0);
    sigmas.subarray(0, 4).forEach((sigma, i) => {
      expect(timesteps[i]).toBe(BigInt(Math.trunc(sigma * 1000)));
    });
    expect(timesteps[0]).toBe(999n);
  });

  it("multiplies the transformer timestep by the model's timestep_scale in float32", () => {
    const teacher = createSampler({ modelPath: teacherModel, steps: 4 });
    const plain = createSampler({ modelPath: sanaModel, steps: 4 });
    const t0 = Number(teacher.timesteps()[0]);
    expect(plain.transformerTimestep(0)).toBe(t0);
    // 999 * float32(0.001) rounds to 0.99900007 in float32, not to 0.999.
    expect(teacher.transformerTimestep(0)).toBe(f(t0 * f(0.001)));
    expect(teacher.transformerTimestep(0)).not.toBe(f(0.999));
  });

  it("builds Sana's flow_euler sampler from a DPM config, shifting sigma_min twice", () => {
    const euler = createSampler({ kind: "flow_euler", config: sanaSchedulerConfig(), steps: 4 });
    expect(euler.kind).toBe("flow_euler");
    const sigmas = euler.sigmas();
    expect(sigmas[0]).toBe(1);
    // shift(shift(0.001)) at shift 3, not shift(0.001) = 0.003.
    expect(sigmas[3]).toBeCloseTo(0.00893, 5);
    expect(euler.timesteps()).toBeInstanceOf(Float32Array);
    expect(euler.timesteps()[3]).toBe(f((sigmas[3] ?? 0) * 1000));
  });

  it("derives the sampler from a config without _class_name by its keys", () => {
    const { _class_name: _, ...dpm } = sanaSchedulerConfig();
    expect(createSampler({ config: dpm, steps: 3 }).kind).toBe("flow_dpm_solver");
    expect(createSampler({ config: { shift: 3.0 }, steps: 3 }).kind).toBe("flow_euler");
    expect(createSampler({ config: { prediction_type: "trigflow", sigma_data: 0.5 }, steps: 3 }).kind).toBe(
      "scm",
    );
    expect(() => createSampler({ config: { num_train_timesteps: 1000 }, steps: 3 })).toThrow(/cannot tell/);
  });
});

describe("scheduler configs the engine does not reproduce are rejected, naming the key", () => {
  it.each([
    [{ prediction_type: "epsilon" }, /prediction_type/],
    [{ use_flow_sigmas: false }, /use_flow_sigmas/],
    [{ algorithm_type: "sde-dpmsolver++" }, /algorithm_type/],
    [{ solver_order: 3 }, /solver_order/],
    [{ final_sigmas_type: "sigma_min" }, /final_sigmas_type/],
    [{ use_karras_sigmas: true }, /use_karras_sigmas/],
    [{ thresholding: true }, /thresholding/],
    [{ use_dynamic_shifting: true }, /use_dynamic_shifting/],
    [{ variance_type: "learned_range" }, /variance_type/],
    [{ flow_shift: -1 }, /flow_shift/],
    [{ solver_order: "two" }, /solver_order/],
  ])("DPM-Solver with %j", (changes, message) => {
    expect(() => createSampler({ config: dpmConfig(changes), steps: 4 })).toThrow(message);
  });

  it.each([
    [{ use_dynamic_shifting: true }, /use_dynamic_shifting/],
    [{ invert_sigmas: true }, /invert_sigmas/],
    [{ shift_terminal: 0.1 }, /shift_terminal/],
    [{ stochastic_sampling: true }, /stochastic_sampling/],
  ])("Flow-Euler with %j", (changes, message) => {
    const config = { _class_name: "FlowMatchEulerDiscreteScheduler", shift: 3.0, ...changes };
    expect(() => createSampler({ config, steps: 4 })).toThrow(message);
  });

  it("refuses a flow sampler for a TrigFlow model and SCM for a flow model", () => {
    expect(() => createSampler({ kind: "flow_dpm_solver", modelPath: sprintModel, steps: 4 })).toThrow(
      /TrigFlow/,
    );
    expect(() => createSampler({ kind: "scm", modelPath: sanaModel, steps: 2 })).toThrow(/TrigFlow/);
  });

  it("refuses an unknown scheduler class and an unknown sampler name", () => {
    expect(() => createSampler({ config: { _class_name: "DDIMScheduler" }, steps: 4 })).toThrow(
      /DDIMScheduler/,
    );
    const kind = "heun" as unknown as "scm";
    expect(() => createSampler({ kind, modelPath: sanaModel, steps: 4 })).toThrow(/unknown sampler/);
  });

  it("refuses zero steps and SCM steps beyond num_train_timesteps", () => {
    expect(() => createSampler({ modelPath: sanaModel, steps: 0 })).toThrow(/at least 1/);
    expect(() => createSampler({ modelPath: sprintModel, steps: 1001 })).toThrow(/num_train_timesteps/);
  });
});

describe("DPM-Solver++ step order at few steps", () => {
  const n = 24;
  const sample = seeded(n, 1);
  const outputs = [seeded(n, 2), seeded(n, 3), seeded(n, 4)];

  function run(steps: number): { sampler: Sampler; prev: Float32Array[] } {
    const sampler = createSampler({ modelPath: sanaModel, steps });
    const prev: Float32Array[] = [];
    let x = sample;
    for (let i = 0; i < steps; i += 1) {
      x = sampler.step(outputs[i] as Float32Array, x);
      prev.push(x);
    }
    return { sampler, prev };
  }

  it("1 step lands exactly on the data prediction sample - sigma * v", () => {
    const { sampler, prev } = run(1);
    const sigma = sampler.sigmas()[0] ?? 0;
    const v = outputs[0] as Float32Array;
    const x0 = sample.map((x, i) => f(x - f(sigma * (v[i] ?? 0))));
    expect(prev[0]).toEqual(x0);
    expect(sampler.denoised()).toEqual(x0);
  });

  it("2 steps are both first order (lower_order_final), ending on the data prediction", () => {
    const { sampler, prev } = run(2);
    const sigmas = sampler.sigmas();
    const expected = firstOrder(sample, outputs[0] as Float32Array, sigmas[0] ?? 0, sigmas[1] ?? 0);
    expect(maxRelDiff(prev[0] as Float32Array, expected)).toBeLessThan(1e-6);
    const v = outputs[1] as Float32Array;
    const x1 = prev[0] as Float32Array;
    expect(prev[1]).toEqual(x1.map((x, i) => f(x - f((sigmas[1] ?? 0) * (v[i] ?? 0)))));
  });

  it("the middle of 3 steps is second order (midpoint), not first order", () => {
    const { sampler, prev } = run(3);
    const s = sampler.sigmas();
    const lambda = (sigma: number) => Math.log(1 - sigma) - Math.log(sigma);
    const x1 = prev[0] as Float32Array;
    const m0 = x1.map((x, i) => x - (s[1] ?? 0) * ((outputs[1] as Float32Array)[i] ?? 0));
    const m1 = sample.map((x, i) => x - (s[0] ?? 0) * ((outputs[0] as Float32Array)[i] ?? 0));
    const h = lambda(s[2] ?? 0) - lambda(s[1] ?? 0);
    const r0 = (lambda(s[1] ?? 0) - lambda(s[0] ?? 0)) / h;
    const coef = (1 - (s[2] ?? 0)) * (Math.exp(-h) - 1);
    const midpoint = x1.map(
      (x, i) =>
        ((s[2] ?? 0) / (s[1] ?? 0)) * x -
        coef * (m0[i] ?? 0) -
        0.5 * coef * (1 / r0) * ((m0[i] ?? 0) - (m1[i] ?? 0)),
    );
    expect(maxRelDiff(prev[1] as Float32Array, midpoint)).toBeLessThan(1e-6);
    const first = firstOrder(x1, outputs[1] as Float32Array, s[1] ?? 0, s[2] ?? 0);
    expect(maxRelDiff(prev[1] as Float32Array, first)).toBeGreaterThan(1e-4);
  });

  it("reset() replays the same trajectory", () => {
    const { sampler, prev } = run(3);
    sampler.reset();
    expect(sampler.stepIndex()).toBe(0);
    let x = sample;
    for (let i = 0; i < 3; i += 1) x = sampler.step(outputs[i] as Float32Array, x);
    expect(x).toEqual(prev[2]);
  });
});

describe("sampler misuse fails with a message", () => {
  it("refuses a step after the last one, a changed size and a missing SCM noise", () => {
    const dpm = createSampler({ modelPath: sanaModel, steps: 1 });
    dpm.step(seeded(8, 1), seeded(8, 2));
    expect(() => dpm.step(seeded(8, 1), seeded(8, 2))).toThrow(/already been taken/);
    const two = createSampler({ modelPath: sanaModel, steps: 2 });
    two.step(seeded(8, 1), seeded(8, 2));
    expect(() => two.step(seeded(4, 1), seeded(4, 2))).toThrow(/size of the first step/);
    const scm = createSampler({ modelPath: sprintModel, steps: 2 });
    expect(() => scm.step(seeded(8, 1), seeded(8, 2))).toThrow(/noise/);
    expect(() => scm.step(seeded(8, 1), new Float64Array(8) as unknown as Float32Array)).toThrow(
      /Float32Array/,
    );
  });
});

describe("SCM (Sana-Sprint) schedule and TrigFlow conversions", () => {
  it("uses [max, 1.3, 0] for 2 steps and linspace when the intermediate angle is off", () => {
    expect([...createSampler({ modelPath: sprintModel, steps: 2 }).timesteps()]).toEqual([
      f(1.5708),
      f(1.3),
      0,
    ]);
    const linear = createSampler({ modelPath: sprintModel, steps: 2, intermediateTimesteps: null });
    expect([...linear.timesteps()]).toEqual([f(1.5708), f(f(1.5708) + f(-f(1.5708) / 2)), 0]);
    expect(createSampler({ modelPath: sprintModel, steps: 4 }).timesteps().length).toBe(5);
  });

  it("converts the latents to the transformer input and its output back as SanaSprintPipeline does", () => {
    const sampler = createSampler({ modelPath: sprintModel, steps: 2 });
    expect(sampler.initialLatentScale).toBe(0.5);
    const angle = f(1.3);
    const s = sampler.transformerTimestep(1);
    expect(s).toBeCloseTo(Math.sin(angle) / (Math.cos(angle) + Math.sin(angle)), 6);
    const latents = seeded(16, 5);
    const norm = Math.sqrt(s * s + (1 - s) * (1 - s));
    const xIn = sampler.modelInput(1, latents);
    expect(
      maxRelDiff(
        xIn,
        latents.map((x) => (x / 0.5) * norm),
      ),
    ).toBeLessThan(1e-6);
    const F = seeded(16, 6);
    const v = sampler.modelOutputToStepInput(1, xIn, F);
    const expected = xIn.map(
      (x, i) => (((1 - 2 * s) * x + (1 - 2 * s + 2 * s * s) * (F[i] ?? 0)) / norm) * 0.5,
    );
    expect(maxRelDiff(v, expected)).toBeLessThan(1e-6);
  });

  it("decodes pred_x0 / sigma_data after the last step", () => {
    const sampler = createSampler({ modelPath: sprintModel, steps: 1 });
    const sample = seeded(8, 7);
    const out = sampler.step(seeded(8, 8), sample, seeded(8, 9));
    // At angle 0 the noise term vanishes: the last sample is pred_x0 itself.
    expect(out).toEqual(sampler.denoised());
    expect(sampler.finalLatents(out)).toEqual(sampler.denoised().map((x) => x / 0.5));
  });

  it("flow samplers leave the latents and the transformer output unchanged", () => {
    const sampler = createSampler({ modelPath: sanaModel, steps: 2 });
    const x = seeded(8, 10);
    expect(sampler.initialLatentScale).toBe(1);
    expect(sampler.modelInput(0, x)).toEqual(x);
    expect(sampler.modelOutputToStepInput(0, x, seeded(8, 11))).toEqual(seeded(8, 11));
  });
});

describe("guidance combines the model batch in float32, in torch's order", () => {
  const uncond = seeded(6, 12);
  const cond = seeded(6, 13);
  const perturbed = seeded(6, 14);
  const batch = (...parts: Float32Array[]) => {
    const out = new Float32Array(parts.length * 6);
    parts.forEach((p, i) => {
      out.set(p, i * 6);
    });
    return out;
  };

  it("CFG: uncond + g (cond - uncond)", () => {
    const out = samplerBinding().cfgCombine(batch(uncond, cond), 4.5);
    expect(out).toEqual(uncond.map((u, i) => f(u + f(4.5 * f((cond[i] ?? 0) - u)))));
  });

  it("CFG + PAG: uncond + g (cond - uncond) + pag (cond - perturbed)", () => {
    const out = samplerBinding().cfgPagCombine(batch(uncond, cond, perturbed), 4.5, 3);
    const c = (i: number) => cond[i] ?? 0;
    expect(out).toEqual(
      uncond.map((u, i) => f(f(u + f(4.5 * f(c(i) - u))) + f(3 * f(c(i) - (perturbed[i] ?? 0))))),
    );
  });

  it("PAG alone: cond + pag (cond - perturbed)", () => {
    const out = samplerBinding().pagCombine(batch(cond, perturbed), 3);
    expect(out).toEqual(cond.map((c, i) => f(c + f(3 * f(c - (perturbed[i] ?? 0))))));
  });

  it("refuses a model batch that does not split into the layout", () => {
    expect(() => samplerBinding().cfgCombine(new Float32Array(7), 4.5)).toThrow(/2 equal parts/);
    expect(() => samplerBinding().cfgPagCombine(new Float32Array(8), 4.5, 3)).toThrow(/3 equal parts/);
  });

  it("Sana-Sprint's embedded guidance is the float32 product 4.5 * 0.1", () => {
    expect(samplerBinding().embeddedGuidance(4.5, 0.1)).toBe(f(f(4.5) * f(0.1)));
  });
});
