import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "@sana-edge/proto";

// grpc.health.v1: SERVING once the models are loaded, NOT_SERVING while draining, for the
// whole server ("") and each service name. Watch streams every change until the caller leaves.

export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<() => void>();

  constructor(services: readonly string[]) {
    for (const service of ["", ...services]) this.statuses.set(service, ServingStatus.NOT_SERVING);
  }

  /** Sets every known service (and the server as a whole) to `status`. */
  setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) this.statuses.set(service, status);
    for (const wake of this.watchers) wake();
  }

  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Resolves at the next change or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.watchers.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.watchers.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

function response(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check(request) {
      const status = state.status(request.service);
      if (status === undefined) throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      return response(status);
    },
    async *watch(request, context) {
      let last: ServingStatus | undefined;
      while (!context.signal.aborted) {
        const status = state.status(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (status !== last) yield response(status);
        last = status;
        await state.changed(context.signal);
      }
    },
  };
}
