import { env, SELF } from "cloudflare:test";
import { expect, it } from "vitest";

it("the worker answers inside workerd with its bindings", async () => {
  const response = await SELF.fetch("https://edge.test/healthz");
  expect(await response.text()).toBe("ok");
  expect(typeof env.KEYS.get).toBe("function");
});
