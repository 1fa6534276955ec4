/** The logger the k3s roles write to: pino-compatible, silent by default. */
export interface K3sLogger {
  /** Informational. */
  info(fields: object, message: string): void;
  /** Something went wrong but the role carries on. */
  warn(fields: object, message: string): void;
}

/** A logger that drops everything. */
export const silentK3sLogger: K3sLogger = { info: () => {}, warn: () => {} };
