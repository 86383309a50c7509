import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { codeName, SidecarMetrics, serveMetrics } from "../src/ops/metrics.js";

describe("SidecarMetrics", () => {
  it("renders every recorded value in the Prometheus text format", async () => {
    const metrics = new SidecarMetrics();
    metrics.setQueueDepth("sana-1600m", 3);
    metrics.setActiveJobs("sana-1600m", 2);
    metrics.observeStep("sana-1600m", 0.04);
    metrics.observeGeneration("sana-1600m", "succeeded", 12);
    metrics.observeQueueWait("sana-1600m", 0.5);
    metrics.observeBatch("sana-1600m", 4);
    metrics.countRequest("Generate", 0);
    metrics.countRequest("Generate", Code.ResourceExhausted);
    metrics.countRequest("Generate", Code.ResourceExhausted);
    metrics.countStep("sana-1600m");
    metrics.countStep("sana-1600m", 19);

    const text = await metrics.render();
    expect(text).toContain('sana_queue_depth{model="sana-1600m"} 3');
    expect(text).toContain('sana_active_jobs{model="sana-1600m"} 2');
    expect(text).toContain('sana_denoise_step_seconds_bucket{le="0.05",model="sana-1600m"} 1');
    expect(text).toContain('sana_generation_seconds_count{model="sana-1600m",outcome="succeeded"} 1');
    expect(text).toContain('sana_queue_wait_seconds_sum{model="sana-1600m"} 0.5');
    expect(text).toContain('sana_batch_size_bucket{le="4",model="sana-1600m"} 1');
    expect(text).toContain('sana_batch_size_bucket{le="3",model="sana-1600m"} 0');
    expect(text).toContain('sana_requests_total{method="Generate",code="ok"} 1');
    expect(text).toContain('sana_requests_total{method="Generate",code="resource_exhausted"} 2');
    expect(text).toContain('sana_denoise_steps_total{model="sana-1600m"} 20');
    // prom-client's default process metrics live on the same registry.
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
  });

  it("keeps two instances apart, so several can live in one process", async () => {
    const a = new SidecarMetrics();
    const b = new SidecarMetrics();
    a.setQueueDepth("m", 5);
    b.setQueueDepth("m", 7);
    expect(await a.render()).toContain('sana_queue_depth{model="m"} 5');
    expect(await b.render()).toContain('sana_queue_depth{model="m"} 7');
    expect(await b.render()).not.toContain('sana_queue_depth{model="m"} 5');
  });

  it("names gRPC codes in lower snake case", () => {
    expect(codeName(0)).toBe("ok");
    expect(codeName(Code.InvalidArgument)).toBe("invalid_argument");
    expect(codeName(Code.ResourceExhausted)).toBe("resource_exhausted");
    expect(codeName(Code.DeadlineExceeded)).toBe("deadline_exceeded");
    expect(codeName(Code.Unauthenticated)).toBe("unauthenticated");
    expect(codeName(99)).toBe("unknown");
  });
});

describe("serveMetrics", () => {
  it("serves GET /metrics as Prometheus text and 404 elsewhere", async () => {
    const metrics = new SidecarMetrics();
    metrics.countRequest("Check", 0);
    const server = await serveMetrics(metrics, { host: "127.0.0.1", port: 0 });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(metrics.contentType);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await res.text()).toContain('sana_requests_total{method="Check",code="ok"} 1');

      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: "POST" })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it("closes while a scraper still holds a keep-alive connection", async () => {
    const server = await serveMetrics(new SidecarMetrics(), { host: "127.0.0.1", port: 0 });
    await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    await server.close();
    await expect(fetch(`http://127.0.0.1:${server.port}/metrics`)).rejects.toThrow();
  });
});
