// Server-sent events read from a fetch body: EventSource can neither POST nor send an Authorization
// header. Follows the HTML standard's event-stream parsing, minus ids and reconnection (a
// generation cannot be resumed, so there is nothing to reconnect to).

export interface SseMessage {
  readonly event: string;
  readonly data: string;
}

const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * Splits text into lines at CRLF, CR or LF across chunk boundaries. A line (a final image's base64, megabytes
 * long) may span hundreds of chunks, so pieces are collected and joined once, never rescanned.
 */
export class LineSplitter {
  #pieces: string[] = [];
  /** The last chunk ended in CR: a LF starting the next one belongs to the same break. */
  #afterCr = false;

  push(text: string): string[] {
    const lines: string[] = [];
    let start = this.#afterCr && text.startsWith("\n") ? 1 : 0;
    this.#afterCr = false;
    LINE_BREAK.lastIndex = start;
    for (let match = LINE_BREAK.exec(text); match !== null; match = LINE_BREAK.exec(text)) {
      this.#pieces.push(text.slice(start, match.index));
      lines.push(this.#pieces.join(""));
      this.#pieces = [];
      start = LINE_BREAK.lastIndex;
      if (match[0] === "\r" && start === text.length) this.#afterCr = true;
    }
    if (start < text.length) this.#pieces.push(text.slice(start));
    return lines;
  }
}

/** Turns event-stream text, pushed in arbitrary pieces, into complete messages. */
export class SseParser {
  readonly #lines = new LineSplitter();
  #event = "";
  #data: string[] = [];

  push(text: string): SseMessage[] {
    const messages: SseMessage[] = [];
    for (const line of this.#lines.push(text)) {
      const message = this.#line(line);
      if (message !== undefined) messages.push(message);
    }
    return messages;
  }

  #line(line: string): SseMessage | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const raw = colon === -1 ? "" : line.slice(colon + 1);
    const value = raw.startsWith(" ") ? raw.slice(1) : raw;
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    const message =
      this.#data.length === 0 ? undefined : { event: this.#event || "message", data: this.#data.join("\n") };
    this.#event = "";
    this.#data = [];
    return message;
  }
}

/** The messages of an event-stream body. Leaving the loop early cancels the body, which ends the download. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    // A message cut off by the end of the stream is dropped, as the standard says.
    yield* parser.push(decoder.decode());
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
