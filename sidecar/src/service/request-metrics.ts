import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { OK, type StatusCode } from "../jobs/job.js";
import type { SidecarMetrics } from "../ops/metrics.js";

// Counts every call by method and final gRPC code, streaming ones when their stream ends.

function codeOf(error: unknown): Code {
  return ConnectError.from(error).code;
}

async function* counted<T>(messages: AsyncIterable<T>, done: (code: StatusCode) => void): AsyncIterable<T> {
  // Stays CANCELLED when the consumer stops early: the caller went away.
  let code: StatusCode = Code.Canceled;
  try {
    yield* messages;
    code = OK;
  } catch (error) {
    code = codeOf(error);
    throw error;
  } finally {
    done(code);
  }
}

export function countRequests(metrics: SidecarMetrics): Interceptor {
  return (next) => async (request) => {
    const method = request.method.name;
    let response: Awaited<ReturnType<typeof next>>;
    try {
      response = await next(request);
    } catch (error) {
      metrics.countRequest(method, codeOf(error));
      throw error;
    }
    if (!response.stream) {
      metrics.countRequest(method, OK);
      return response;
    }
    return {
      ...response,
      message: counted(response.message, (code) => metrics.countRequest(method, code)),
    };
  };
}
