// A server-sent events reader after the WHATWG rules, as much of them as `sana generate --endpoint`
// needs: `event` and `data` fields, comments, any of CRLF/LF/CR as line ends, and chunks split anywhere
// (inside a line, a CRLF pair or a UTF-8 sequence). A completed event carries a whole image as base64, tens
// of megabytes for 4096², so a line is collected as pieces and joined once rather than rescanned per chunk.

export interface SseEvent {
  /** The `event` field; "message" when the server named none. */
  readonly event: string;
  /** The `data` lines joined with "\n". */
  readonly data: string;
}

export class SseParser {
  readonly #decoder = new TextDecoder();
  readonly #lineEnd = /\r\n|\r|\n/g;
  #pieces: string[] = [];
  // A chunk ended with CR: if the next starts with LF, that LF belongs to the same line end.
  #afterCr = false;
  #event = "";
  #data: string[] = [];

  /**
   * Feeds bytes (UTF-8, decoded across chunk boundaries) or text; returns the events this completes. An
   * event still open when the stream ends is never returned, as in browsers: a cut connection must not pass
   * for a complete image.
   */
  push(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    if (text === "") return [];
    const events: SseEvent[] = [];
    let start = this.#afterCr && text.startsWith("\n") ? 1 : 0;
    this.#afterCr = false;
    const lineEnd = this.#lineEnd;
    lineEnd.lastIndex = start;
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      this.#pieces.push(text.slice(start, match.index));
      const line = this.#pieces.join("");
      this.#pieces = [];
      const event = this.#line(line);
      if (event !== undefined) events.push(event);
      start = lineEnd.lastIndex;
      if (match[0] === "\r" && start === text.length) this.#afterCr = true;
    }
    if (start < text.length) this.#pieces.push(text.slice(start));
    return events;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
    // id and retry only matter to a client that reconnects, which this one never does.
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
    const event =
      this.#data.length === 0 ? undefined : { event: this.#event || "message", data: this.#data.join("\n") };
    this.#event = "";
    this.#data = [];
    return event;
  }
}

/** The events of a response body, as they complete. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(value);
    }
  } finally {
    // Leaving early (an error event, an abort) must close the connection, so the server cancels the job.
    await reader.cancel().catch(() => undefined);
  }
}
