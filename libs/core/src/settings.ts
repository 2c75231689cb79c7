/**
 * Settings declared once. An app describes each setting in one TypeBox schema — its type, bounds, `default`,
 * `description` and `env` name — and everything else is derived from that one declaration: the command-line flags
 * (kebab-case of the field name), `--help` with the real defaults, environment variables, defaults, validation
 * (a {@link ConfigError} names the bad field) and the frozen result. Nothing can drift because nothing is repeated.
 *
 * @example
 * ```ts
 * const Settings = defineSettings({
 *   name: 'pop-router',
 *   summary: 'POP session-ownership gossip',
 *   schema: Type.Object({
 *     port: setting(Type.Integer({ minimum: 0, maximum: 65535 }), 7946, 'gossip UDP port', 'POPR_PORT'),
 *   }),
 * });
 * const r = Settings.load(process.argv.slice(2), process.env);
 * if (r.help) console.log(r.text); else start(r.config);
 * ```
 */
import { Kind, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { parseCli, type CliOption, type CliSpec } from './cli.js';
import { Value } from '@sinclair/typebox/value';
import { deepFreeze, parseConfig } from './config.js';

/** Extra keywords a setting's schema carries (TypeBox keeps unknown keywords). */
export interface SettingAnnotations {
  /** One line for `--help`. */
  description: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** A secret: its default and value are never printed. */
  secret?: boolean;
  /** Not a command-line flag (set only in code, e.g. injected by tests); still validated and defaulted. */
  noFlag?: boolean;
}

/**
 * Annotates a schema as a setting: `setting(Type.Integer({ minimum: 1 }), 4, 'workers at most', 'X_MAX')`.
 * The default is stored in the schema, so `--help`, validation and the defaults object all read the same value.
 */
export function setting<T extends TSchema>(
  schema: T,
  defaultValue: Static<T>,
  description: string,
  env?: string,
  extra: Omit<SettingAnnotations, 'description' | 'env'> = {},
): T {
  return { ...schema, default: defaultValue, description, ...(env ? { env } : {}), ...extra } as T;
}

export interface SettingsDeclaration<S extends TObject> {
  /** The command's name in `--help`. */
  name: string;
  /** One line for `--help`. */
  summary: string;
  schema: S;
  examples?: string[];
}

export type SettingsLoad<S extends TObject> =
  { help: true; text: string } | { help: false; config: Readonly<Static<S>> };

export interface Settings<S extends TObject> {
  readonly schema: S;
  /** The CLI table derived from the schema (flags, env names, help lines with the real defaults). */
  readonly cli: CliSpec;
  /** The defaults, as the schema declares them (fields without a default are absent). */
  readonly defaults: Readonly<Static<S>>;
  /** Flags > env > defaults; validated and frozen. Throws CORE_ERR_USAGE on an unknown flag, ConfigError on a bad value. */
  load(argv: string[], env?: NodeJS.ProcessEnv): SettingsLoad<S>;
  /** Validates an object built in code (tests, composition) against the same schema, with defaults. */
  parse(input: unknown, options?: { convert?: boolean }): Readonly<Static<S>>;
  /** `--flag` name of a field. */
  flagOf(field: keyof Static<S> & string): string;
}

const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function defaultText(s: TSchema & Partial<SettingAnnotations>): string | undefined {
  if (s.secret) return undefined;
  const v = (s as { default?: unknown }).default;
  if (v === undefined || v === '') return undefined;
  if (Array.isArray(v)) return v.length ? v.join(',') : undefined;
  return String(v);
}

/** Derives flags, env, `--help`, defaults and validation from one annotated schema. */
export function defineSettings<S extends TObject>(decl: SettingsDeclaration<S>): Settings<S> {
  const options: Record<string, CliOption> = {};
  const flags = new Map<string, string>();
  for (const [field, raw] of Object.entries(decl.schema.properties)) {
    const s = raw as TSchema & Partial<SettingAnnotations>;
    if (s.noFlag) continue;
    if (!s.description) throw new Error(`setting ${decl.name}.${field} has no description`);
    const flag = kebab(field);
    flags.set(field, flag);
    const isBool = s[Kind] === 'Boolean';
    const isArray = s[Kind] === 'Array';
    const dt = isBool ? undefined : defaultText(s);
    options[flag] = {
      type: isBool ? 'boolean' : 'string',
      ...(isArray ? { multiple: true } : {}),
      ...(s.env ? { env: s.env } : {}),
      doc: s.description,
      ...(dt !== undefined ? { defaultText: dt } : {}),
      field,
    };
  }
  const cli: CliSpec = {
    name: decl.name,
    summary: decl.summary,
    options,
    ...(decl.examples ? { examples: decl.examples } : {}),
  };
  const parse = (input: unknown, opts: { convert?: boolean } = {}) => parseConfig(decl.schema, input, opts);
  return Object.freeze({
    schema: decl.schema,
    cli,
    defaults: deepFreeze(Value.Default(decl.schema, {}) as Static<S>),
    load(argv: string[], env: NodeJS.ProcessEnv = process.env): SettingsLoad<S> {
      const r = parseCli(cli, argv, env);
      if (r.help) return r;
      return { help: false, config: parse(r.values) };
    },
    parse,
    flagOf(field: keyof Static<S> & string): string {
      const f = flags.get(field);
      if (!f) throw new Error(`${decl.name}: ${field} is not a flag`);
      return `--${f}`;
    },
  });
}
