/**
 * Typed errors with stable codes. Each lib keeps one table of its codes (`REG_ERR_…`, `AFF_ERR_…`) and documents
 * every one in its README; a test checks that.
 */

export class SwitchyardError<C extends string = string> extends Error {
  readonly code: C;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: C,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
  }
}

/** Codes of the core library. */
export const CoreErrors = {
  CORE_ERR_CONFIG: 'a configuration value is missing or invalid; `field` names it',
  CORE_ERR_USAGE: 'a command-line flag or environment variable is unknown or malformed',
  CORE_ERR_STATE: 'a lifecycle method was called in the wrong state (e.g. start twice)',
} as const;
export type CoreErrorCode = keyof typeof CoreErrors;

export class CoreError extends SwitchyardError<CoreErrorCode> {}

/** Thrown when configuration does not validate; `field` is the dotted path of the first bad value. */
export class ConfigError extends CoreError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('CORE_ERR_CONFIG', `invalid config: ${field}: ${message}`, { details: { field } });
    this.field = field;
  }
}

/** True when `err` is a {@link SwitchyardError} carrying `code`. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof SwitchyardError && err.code === code;
}
