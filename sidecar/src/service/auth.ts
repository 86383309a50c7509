import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Health } from "@sana-edge/proto";

// Only the edge may call a sidecar: it sends `authorization: Bearer <shared secret>`. The
// check runs before any handler, so a refused call costs no engine time. Health stays open:
// kubelet gRPC probes cannot send headers, and health reveals nothing.

/** Services anyone may call. */
const OPEN_SERVICES = new Set([Health.typeName]);

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function bearerToken(header: string | null): string {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? "");
  return match?.[1]?.trim() ?? "";
}

/**
 * Refuses calls without one of the shared secrets with UNAUTHENTICATED. More than one secret is
 * accepted while a rotation is under way (the new one and the one the edge still sends).
 */
export function requireSharedSecret(secrets: readonly string[]): Interceptor {
  if (secrets.length === 0) throw new RangeError("at least one sidecar secret is needed");
  for (const secret of secrets) {
    if (secret.length < 16) throw new RangeError("the sidecar secret must be at least 16 characters long");
  }
  // Comparing fixed-length digests keeps the comparison constant-time whatever the token's length;
  // every secret is compared, so the time does not tell which one matched.
  const expected = secrets.map(digest);
  const accepted = (token: string) => {
    const presented = digest(token);
    return expected.reduce((ok, candidate) => timingSafeEqual(presented, candidate) || ok, false);
  };
  return (next) => async (request) => {
    if (OPEN_SERVICES.has(request.service.typeName)) return next(request);
    const token = bearerToken(request.header.get("authorization"));
    if (token === "" || !accepted(token)) {
      throw new ConnectError(
        "this sidecar only serves its edge: missing or wrong credentials",
        Code.Unauthenticated,
      );
    }
    return next(request);
  };
}
