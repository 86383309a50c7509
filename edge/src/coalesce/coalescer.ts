import { DurableObject } from "cloudflare:workers";

// Placeholder replaced in this change: identical in-flight generations share one run.
export class Coalescer extends DurableObject {}
