// Progress on stderr for `sana generate` (local and --endpoint): one redrawn bar on a terminal, and on anything else
// (a pipe, a log, a test) plain lines in the local mode's "stage step/total" form, printed only on change
// so that repeated queue updates do not flood a log.

export interface ProgressSink {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
}

const BAR_WIDTH = 30;

export class ProgressReporter {
  readonly #out: ProgressSink;
  readonly #tty: boolean;
  // A bar is on screen without its newline; anything printed after it must start on a fresh line.
  #open = false;
  #last = "";

  constructor(out: ProgressSink) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  queued(position: number, estimatedWaitMs: number): void {
    const place = position === 0 ? "next" : `position ${position}`;
    const wait = estimatedWaitMs > 0 ? `, about ${Math.ceil(estimatedWaitMs / 1000)} s` : "";
    this.#show(`queued: ${place}${wait}`);
  }

  step(stage: string, step: number, total: number): void {
    if (!this.#tty) {
      this.#show(`${stage} ${step}/${total}`);
      return;
    }
    const filled = total <= 0 ? BAR_WIDTH : Math.min(BAR_WIDTH, Math.round((step / total) * BAR_WIDTH));
    const bar = `${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}`;
    this.#show(`${stage.padEnd(16)} [${bar}] ${step}/${total}`);
  }

  /** Ends the bar's line, so that what follows (the result or an error) starts on its own line. */
  finish(): void {
    if (this.#open) this.#out.write("\n");
    this.#open = false;
  }

  #show(line: string): void {
    if (line === this.#last) return;
    this.#last = line;
    if (!this.#tty) {
      this.#out.write(`${line}\n`);
      return;
    }
    // Clear to the end of the line: a queue line is longer than some bars it is replaced by.
    this.#out.write(`\r${line}\x1b[K`);
    this.#open = true;
  }
}
