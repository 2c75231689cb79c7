/**
 * Command-line parsing shared by every `main`: flags, their environment variables and `--help`, from one table.
 * Values come from (highest first) the flag, the environment variable, then the schema default.
 */
import { parseArgs } from 'node:util';
import { CoreError } from './errors.js';

export interface CliOption {
  /** `string` flags take a value; `boolean` flags need none (`--x`), but take one (`--x=false`, `--no-x`). */
  type: 'string' | 'boolean';
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** May be given more than once (values collected into an array). */
  multiple?: boolean;
  /** One line for `--help`. */
  doc: string;
  /** Shown in `--help` only; real defaults live in the config schema. */
  defaultText?: string;
  /** The config field this flag sets (default: the flag name in camelCase). */
  field?: string;
}

export interface CliSpec {
  name: string;
  summary: string;
  options: Record<string, CliOption>;
  examples?: string[];
}

export type CliResult = { help: true; text: string } | { help: false; values: Record<string, unknown> };

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The values a boolean flag may be given explicitly. */
const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  on: true,
  off: false,
  '1': true,
  '0': false,
};

/**
 * A boolean flag alone means true, and `parseArgs` (Node 20) has no negation: a boolean that defaults to true could
 * only be turned off by its environment variable. So a boolean flag also takes an explicit value here —
 * `--flag=false`, `--flag false` (or true/on/off/1/0) — and `--no-flag` means `--flag=false`. Returns the argv left
 * for `parseArgs` and the explicit values (these win over a bare `--flag` given as well).
 */
function explicitBooleans(spec: CliSpec, argv: string[]): { rest: string[]; explicit: Map<string, boolean> } {
  const rest: string[] = [];
  const explicit = new Map<string, boolean>();
  const usage = (msg: string) => new CoreError('CORE_ERR_USAGE', `${spec.name}: ${msg} (see --help)`);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(a);
    const name = m?.[1];
    const inline = m?.[2];
    const o = name === undefined ? undefined : spec.options[name];
    if (o?.type === 'string' && inline === undefined && i + 1 < argv.length) {
      // the next token is this flag's value, whatever it looks like
      rest.push(a, argv[++i]!);
      continue;
    }
    if (o?.type === 'boolean') {
      const word =
        inline ?? (argv[i + 1] !== undefined && argv[i + 1]! in BOOLEAN_WORDS ? argv[++i] : undefined);
      if (word === undefined) rest.push(a);
      else if (word in BOOLEAN_WORDS) explicit.set(name!, BOOLEAN_WORDS[word]!);
      else throw usage(`--${name} takes true, false, on, off, 1 or 0, not ${JSON.stringify(word)}`);
      continue;
    }
    const negated = name?.startsWith('no-') ? spec.options[name.slice(3)] : undefined;
    if (!o && negated?.type === 'boolean' && inline === undefined) {
      explicit.set(name!.slice(3), false);
      continue;
    }
    rest.push(a);
  }
  return { rest, explicit };
}

/** Parses argv and env; returns the help text when `--help` is given. Throws CORE_ERR_USAGE on unknown flags. */
export function parseCli(spec: CliSpec, argv: string[], env: NodeJS.ProcessEnv = process.env): CliResult {
  const { rest, explicit } = explicitBooleans(spec, argv);
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    help: { type: 'boolean' },
  };
  for (const [flag, o] of Object.entries(spec.options))
    options[flag] = { type: o.type, multiple: o.multiple ?? false };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new CoreError('CORE_ERR_USAGE', `${spec.name}: ${(err as Error).message} (see --help)`, {
      cause: err,
    });
  }
  if (parsed.values['help']) return { help: true, text: helpText(spec) };
  const values: Record<string, unknown> = {};
  for (const [flag, o] of Object.entries(spec.options)) {
    const field = o.field ?? camel(flag);
    let v: unknown = explicit.has(flag) ? explicit.get(flag) : parsed.values[flag];
    if (v === undefined && o.env && env[o.env] !== undefined) {
      const raw = env[o.env] as string;
      v = o.multiple
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : o.type === 'boolean'
          ? raw === '1' || raw === 'true'
          : raw;
    }
    if (v !== undefined) setPath(values, field, v);
  }
  return { help: false, values };
}

function setPath(target: Record<string, unknown>, dotted: string, v: unknown): void {
  const parts = dotted.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]!] = v;
}

export function helpText(spec: CliSpec): string {
  const rows = Object.entries(spec.options).map(([flag, o]) => {
    const left = `  --${flag}${o.type === 'string' ? ' <value>' : ''}`;
    const extra = [o.env ? `env ${o.env}` : '', o.defaultText ? `default ${o.defaultText}` : '']
      .filter(Boolean)
      .join(', ');
    return `${left.padEnd(34)} ${o.doc}${extra ? ` [${extra}]` : ''}`;
  });
  const ex = spec.examples?.length ? `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}\n` : '';
  return `${spec.name} — ${spec.summary}\n\nUsage: ${spec.name} [options]\n\nOptions:\n${rows.join('\n')}\n  --help${' '.repeat(28)} show this help\n${ex}`;
}
