import { pino } from "pino";

export type Logger = pino.Logger;

export interface LoggerOptions {
  level?: string;
  /** Where JSON lines go; stdout when absent. */
  destination?: NodeJS.WritableStream | pino.DestinationStream;
}

/** JSON lines for a log collector: level as a label rather than pino's number, ISO timestamps, and the service name on every line. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: "sana-sidecar" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? process.stdout,
  );
}
