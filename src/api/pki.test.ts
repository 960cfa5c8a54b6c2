import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { ensureCredentials, servingNames } from './pki.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const sans = (pem: string) => new X509Certificate(pem).subjectAltName?.split(', ') ?? [];

describe('serving certificate names', () => {
  it('names loopback, the kubernetes Service names and IP, the listen host and extra addresses', () => {
    const n = servingNames({ listenHost: '198.19.255.50', serviceIP: '10.96.0.1', clusterDomain: 'cluster.local', extraIPs: ['10.244.0.1'] });
    assert.deepEqual(n.dns, ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']);
    assert.deepEqual(n.ips, ['127.0.0.1', '::1', '10.96.0.1', '10.244.0.1', '198.19.255.50']);
  });

  it('is re-issued for a missing address (same CA), and kept on a later start that wants fewer names', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'portico-pki-'));
    dirs.push(dataDir);
    const base = { dataDir, listenHost: '127.0.0.1', listenPort: 6443, serviceIP: '10.96.0.1', clusterDomain: 'cluster.local' };
    const first = await ensureCredentials(base);
    assert.ok(!sans(first.certPem).includes('IP Address:10.244.0.1'));
    const advertised = await ensureCredentials({ ...base, extraIPs: ['10.244.0.1'] });
    assert.notEqual(advertised.certPem, first.certPem);
    assert.ok(sans(advertised.certPem).includes('IP Address:10.244.0.1'), sans(advertised.certPem).join(' '));
    assert.equal(advertised.caPem, first.caPem);
    assert.equal(advertised.token, first.token);
    assert.ok(new X509Certificate(advertised.certPem).verify(new X509Certificate(first.caPem).publicKey), 'signed by the same CA');
    // The next start asks for the base names only: the certificate that also names the pods' address stays.
    const restarted = await ensureCredentials(base);
    assert.equal(restarted.certPem, advertised.certPem);
    // A new listen host is not covered: re-issued.
    const moved = await ensureCredentials({ ...base, listenHost: '198.19.255.50' });
    assert.notEqual(moved.certPem, advertised.certPem);
    assert.ok(sans(moved.certPem).includes('IP Address:198.19.255.50'));
  });
});
