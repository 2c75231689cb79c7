/**
 * Configuration is validated once, at start, against a TypeBox schema: defaults are applied, strings from flags
 * and env are converted, the first bad field is named in a {@link ConfigError}, and the result is frozen.
 */
import { type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from './errors.js';

export interface ParseConfigOptions {
  /**
   * Convert strings (flags, env) to the schema's types; default true. Pass false for init objects built in code,
   * where `'250'`, `true` or `1.5` for an integer is a mistake to report, not a value to coerce.
   */
  convert?: boolean;
}

/** Throws a {@link ConfigError} naming the first field that does not match `schema` (after defaults). */
export function parseConfig<S extends TSchema>(
  schema: S,
  input: unknown,
  options: ParseConfigOptions = {},
): Readonly<Static<S>> {
  let value: unknown = Value.Clone(input ?? {});
  value = Value.Default(schema, value);
  if (options.convert !== false) value = Value.Convert(schema, value);
  const first = Value.Errors(schema, value).First();
  if (first) {
    const field = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    throw new ConfigError(field, `${first.message} (got ${JSON.stringify(first.value) ?? 'undefined'})`);
  }
  return deepFreeze(value as Static<S>);
}

export function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
