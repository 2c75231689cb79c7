import { describe, expect, it } from 'vitest';
import {
  decodeVxlan,
  encapsulateVxlan,
  deriveTunnelKeys,
  TunnelOpener,
  TunnelSealer,
  vxlanMacFor,
} from '@switchyard/pop-wire';
import { HostTable, hostOf } from '../src/index.js';

const base = {
  self: 'h1',
  tunnelPort: 4790,
  vxlanPort: 4789,
  vni: 42,
  innerAddress: '198.19.0.101',
  sipPort: 5060,
  keyId: 1,
};
const member = (
  id: string,
  addr: string,
  status: 'alive' | 'suspect' | 'dead' | 'left' = 'alive',
  inc = 0,
) => ({
  id,
  addr,
  status,
  inc,
});

describe('host table', () => {
  it('udp mode: the tunnel endpoint is the member address at the tunnel port; the template opens at the owner', () => {
    const t = new HostTable({ ...base, mode: 'udp' });
    const link = t.upsert(member('h2', '127.0.3.2:7946'))!;
    expect(link).toMatchObject({ id: 'h2', address: '127.0.3.2', port: 4790, alive: true });
    expect(t.get('h2')).toMatchObject({ tunnel: '127.0.3.2:4790', mac: vxlanMacFor('h2') });
    const keys = deriveTunnelKeys({ primary: 1, keys: [{ id: 1, secret: 'a-secret-of-16-bytes' }] });
    const now = { now: () => 1_700_000_000_000 };
    const out = Buffer.alloc(2000);
    const n = new TunnelSealer(now, keys).seal(
      out,
      Buffer.from(link.template, 'base64'),
      0,
      '127.0.0.1',
      5555,
      Buffer.from('x'),
    );
    const opened = new TunnelOpener(now, { self: 'h2', keys, maxAgeMs: 1000 }).open(out.subarray(0, n));
    expect(opened).toMatchObject({ ok: true, from: 'h1', address: '127.0.0.1', port: 5555 });
  });

  it("vxlan mode: the template addresses the owner's vx0 MAC and the inner address/port", () => {
    const t = new HostTable({ ...base, mode: 'vxlan' });
    const link = t.upsert(member('h3', '198.18.1.3:7946'))!;
    expect(link).toMatchObject({ address: '198.18.1.3', port: 4789 });
    const tpl = Buffer.from(link.template, 'base64');
    expect(tpl.subarray(8, 14).toString('hex')).toBe(vxlanMacFor('h3').replaceAll(':', ''));
    const out = Buffer.alloc(200);
    const d = decodeVxlan(
      out.subarray(0, encapsulateVxlan(out, tpl, '198.18.0.9', 40000, Buffer.from('hi'))),
    );
    expect(d).toMatchObject({ vni: 42, dstAddress: '198.19.0.101', dstPort: 5060, srcAddress: '198.18.0.9' });
  });

  it('reports a change only when liveness or address changes; dead and left members are not alive', () => {
    const t = new HostTable({ ...base, mode: 'udp' });
    expect(t.upsert(member('h2', '127.0.3.2:7946'))).toBeDefined();
    expect(t.upsert(member('h2', '127.0.3.2:7946'))).toBeUndefined();
    expect(t.upsert(member('h2', '127.0.3.2:7946', 'suspect'))).toBeUndefined(); // still forwarded to
    expect(t.upsert(member('h2', '127.0.3.2:7946', 'dead'))).toMatchObject({ alive: false });
    expect(t.upsert(member('h2', '127.0.3.2:7946', 'alive', 1))).toMatchObject({ alive: true });
    expect(t.upsert(member('h2', '127.0.3.9:7946', 'alive', 2))).toMatchObject({ address: '127.0.3.9' });
    expect(t.upsert(member('h2', '127.0.3.9:7946', 'left', 2))).toMatchObject({ alive: false });
    expect(t.list().map((h) => h.status)).toEqual(['left']);
  });

  it('hostOf splits host:port, IPv6 in brackets included', () => {
    expect(hostOf('127.0.3.1:7946')).toBe('127.0.3.1');
    expect(hostOf('[::1]:7946')).toBe('::1');
    expect(hostOf('name')).toBe('name');
  });
});
