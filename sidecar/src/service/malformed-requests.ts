import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

// connect-es reports a request body that does not parse as INTERNAL (its serialiser is shared
// with clients, where a bad body is the server's fault). On a server the caller sent it, so
// streaming calls, whose request is parsed lazily inside the interceptor chain, get
// INVALID_ARGUMENT instead.

function isParseError(error: unknown): error is ConnectError {
  return (
    error instanceof ConnectError &&
    error.code === Code.Internal &&
    /^parse (binary|json)/.test(error.rawMessage)
  );
}

async function* remapParseErrors<T>(messages: AsyncIterable<T>, typeName: string): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    if (!isParseError(error)) throw error;
    throw new ConnectError(`malformed ${typeName}: ${error.rawMessage}`, Code.InvalidArgument);
  }
}

export function rejectMalformedRequests(): Interceptor {
  return (next) => (request) =>
    request.stream
      ? next({ ...request, message: remapParseErrors(request.message, request.method.input.typeName) })
      : next(request);
}
