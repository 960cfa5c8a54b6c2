// `--advertise-address` (as kube-apiserver's): the `kubernetes` Service's Endpoints and
// EndpointSlice carry that address, the API answers there too, and the serving certificate names it
// (checked with curl against the cluster CA, not -k). 127.0.0.2 is a loopback address of its own on
// Linux, so no root is needed. Without the flag, on the next start, the endpoint is the listen
// address again. (An address this host does not have: cli.test.ts.)
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanup, kubectlOk, startPortico, waitFor, type Portico } from './harness.js';

after(cleanup);

const run = promisify(execFile);

interface Endpoints {
  subsets: Array<{ addresses: Array<{ ip: string }>; ports: Array<{ name: string; port: number }> }>;
}
interface Slice {
  endpoints: Array<{ addresses: string[] }>;
}

const endpointOf = async (p: Portico) => {
  const ep = JSON.parse(await kubectlOk(p, ['get', 'endpoints', 'kubernetes', '-o', 'json'])) as Endpoints;
  const slice = JSON.parse(await kubectlOk(p, ['get', 'endpointslice', 'kubernetes', '-o', 'json'])) as Slice;
  return { ep: ep.subsets.map((s) => [s.addresses.map((a) => a.ip), s.ports.map((x) => [x.name, x.port])]), slice: slice.endpoints.map((e) => e.addresses) };
};

describe('--advertise-address', () => {
  it('puts the address in the kubernetes Endpoints and EndpointSlice, serves the API there with a certificate naming it', async () => {
    const p = await startPortico(['--advertise-address', '127.0.0.2']);
    assert.deepEqual(await endpointOf(p), { ep: [[['127.0.0.2'], [['https', p.port]]]], slice: [['127.0.0.2']] });
    const ca = join(p.root, 'ca.crt');
    await writeFile(ca, p.caPem);
    const { stdout } = await run('curl', ['-sS', '--max-time', '10', '--cacert', ca, '-w', '\n%{http_code}', `https://127.0.0.2:${p.port}/version`]);
    const [body, code] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
    assert.equal(code, '200', stdout);
    assert.match(String((JSON.parse(body) as { gitVersion?: string }).gitVersion), /^v1\.\d+\.\d+/);
    // kubectl through the advertised address, verifying the certificate with the kubeconfig's CA.
    assert.match(await kubectlOk(p, ['--server', `https://127.0.0.2:${p.port}`, 'get', 'ns', 'default', '-o', 'name']), /^namespace\/default$/m);

    // Started again without the flag: the listen address (loopback) is the endpoint again.
    await p.stop();
    await p.restart([]);
    await waitFor(async () => JSON.stringify(await endpointOf(p)) === JSON.stringify({ ep: [[['127.0.0.1'], [['https', p.port]]]], slice: [['127.0.0.1']] }) || undefined, 'kubernetes endpoint back on 127.0.0.1');
    await p.stop();
  });
});
