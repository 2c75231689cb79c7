/**
 * Runs an operator action: validates it against the action table, sends the tier's own request with the tier's
 * token to a configured process of that tier, and writes the outcome to the audit log (state + log line).
 */
import type { Clock, Logger } from '@switchyard/core';
import { SwitchyardError } from '@switchyard/core';
import { ACTIONS, isActionName, type ActionParams } from '../shared/actions.js';
import type { AuditEntry, Role, TierName } from '../shared/model.js';
import { ConsoleError } from '../errors.js';
import type { ConsoleState } from '../state/console-state.js';
import type { ConsoleMetrics } from '../metrics.js';
import { tierRequest } from '../sources/http-json.js';

export type TierUrls = Record<Exclude<TierName, 'registry'>, string[]>;
export type TierTokens = Record<Exclude<TierName, 'registry'>, string>;

export interface ActionResult {
  audit: AuditEntry;
  status: number;
  body: unknown;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const REGION = /^[a-z0-9-]{1,32}$/;

/** Validates raw JSON into ActionParams; throws CON_ERR_BAD_REQUEST naming the field. */
export function parseParams(raw: unknown): ActionParams {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConsoleError('CON_ERR_BAD_REQUEST', 'body: expected a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['id', 'endpoint', 'participants', 'region', 'to'].includes(k))
      throw new ConsoleError('CON_ERR_BAD_REQUEST', `body.${k}: unknown field`);
  if (typeof o['id'] !== 'string' || !ID.test(o['id']))
    throw new ConsoleError('CON_ERR_BAD_REQUEST', 'body.id: expected an id of 1-128 letters, digits, ._:@-');
  const p: ActionParams = { id: o['id'] };
  if (o['endpoint'] !== undefined) {
    if (typeof o['endpoint'] !== 'string')
      throw new ConsoleError('CON_ERR_BAD_REQUEST', 'body.endpoint: expected a URL');
    p.endpoint = o['endpoint'];
  }
  if (o['participants'] !== undefined) {
    const n = o['participants'];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 100_000)
      throw new ConsoleError('CON_ERR_BAD_REQUEST', 'body.participants: expected an integer 1-100000');
    p.participants = n;
  }
  if (o['region'] !== undefined && o['region'] !== '') {
    if (typeof o['region'] !== 'string' || !REGION.test(o['region']))
      throw new ConsoleError('CON_ERR_BAD_REQUEST', 'body.region: expected a region (a-z, 0-9, -)');
    p.region = o['region'];
  }
  if (o['to'] !== undefined && o['to'] !== '') {
    if (typeof o['to'] !== 'string' || !ID.test(o['to']))
      throw new ConsoleError(
        'CON_ERR_BAD_REQUEST',
        'body.to: expected a server id of 1-128 letters, digits, ._:@-',
      );
    p.to = o['to'];
  }
  return p;
}

export class ActionForwarder {
  constructor(
    private readonly components: {
      state: ConsoleState;
      clock: Clock;
      logger: Logger;
      metrics: ConsoleMetrics;
      onChange: () => void;
      /** Is this tier process up now (from the last poll)? Tried first when several are configured. */
      isUp: (tier: TierName, url: string) => boolean;
      /** A request reached this tier process: read its state again now rather than at the next poll. */
      touched?: (tier: Exclude<TierName, 'registry'>, url: string) => void;
    },
    private readonly init: { urls: TierUrls; tokens: TierTokens; timeoutMs: number },
  ) {}

  /**
   * Runs `name` with `raw` params as `role`. Throws CON_ERR_BAD_REQUEST, CON_ERR_UNSUPPORTED,
   * CON_ERR_UNKNOWN_ENDPOINT, CON_ERR_NO_TOKEN before anything is sent; CON_ERR_TIER_DOWN / CON_ERR_TIER_REFUSED
   * after (both audited).
   */
  async run(name: string, raw: unknown, role: Role): Promise<ActionResult> {
    if (!isActionName(name))
      throw new ConsoleError('CON_ERR_BAD_REQUEST', `action: unknown action ${JSON.stringify(name)}`);
    const spec = ACTIONS[name];
    const p = parseParams(raw);
    if (!spec.request)
      throw new ConsoleError('CON_ERR_UNSUPPORTED', `${name}: ${spec.unsupported ?? 'not offered'}`);
    const tier = spec.tier as Exclude<TierName, 'registry'>;
    const token = this.init.tokens[tier];
    if (!token) throw new ConsoleError('CON_ERR_NO_TOKEN', `${name}: no ${tier} token is configured`);
    const configured = this.init.urls[tier];
    let candidates: string[];
    if (spec.needsEndpoint) {
      if (!p.endpoint || !configured.includes(p.endpoint))
        throw new ConsoleError('CON_ERR_UNKNOWN_ENDPOINT', `body.endpoint: not a configured ${tier} URL`);
      candidates = [p.endpoint];
    } else {
      if (configured.length === 0)
        throw new ConsoleError('CON_ERR_UNKNOWN_ENDPOINT', `no ${tier} is configured`);
      // any scheduler serves the request: the ones up first, then the rest
      candidates = [...configured].sort(
        (a, b) => Number(this.components.isUp(tier, b)) - Number(this.components.isUp(tier, a)),
      );
    }
    const req = spec.request(p);
    const target = `${p.id}${p.endpoint ? ` @ ${p.endpoint}` : ''}`;
    let lastErr: unknown;
    for (const base of candidates) {
      try {
        const r = await tierRequest(`${base.replace(/\/+$/, '')}${req.path}`, {
          method: req.method,
          token,
          body: req.body,
          timeoutMs: this.init.timeoutMs,
        });
        const ok = r.status >= 200 && r.status < 300;
        const detail = ok
          ? `${req.method} ${base}${req.path} → ${r.status}`
          : `${req.method} ${base}${req.path} → ${r.status} ${short(r.body)}`;
        const audit = this.audit(role, name, target, ok, r.status, detail);
        this.components.touched?.(tier, base);
        if (!ok)
          throw new ConsoleError('CON_ERR_TIER_REFUSED', `${tier} answered ${r.status}: ${short(r.body)}`, {
            details: { status: r.status, body: r.body, audit },
          });
        return { audit, status: r.status, body: r.body };
      } catch (err) {
        if (err instanceof SwitchyardError && err.code === 'CON_ERR_TIER_DOWN') {
          lastErr = err;
          continue;
        }
        throw err;
      }
    }
    const message = lastErr instanceof Error ? lastErr.message : 'unreachable';
    const audit = this.audit(role, name, target, false, null, `${tier} unreachable: ${message}`);
    throw new ConsoleError('CON_ERR_TIER_DOWN', `${tier} unreachable: ${message}`, { details: { audit } });
  }

  private audit(
    role: Role,
    action: string,
    target: string,
    ok: boolean,
    status: number | null,
    detail: string,
  ): AuditEntry {
    const { state, clock, logger, metrics, onChange } = this.components;
    const entry = state.addAudit({ at: clock.now(), role, action, target, ok, status, detail });
    metrics.actions.inc({ action, result: ok ? 'ok' : 'failed' });
    logger.info({ audit: entry }, 'operator action');
    onChange();
    return entry;
  }
}

function short(body: unknown): string {
  const s = typeof body === 'string' ? body : JSON.stringify(body);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
