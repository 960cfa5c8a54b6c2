// First-start bootstrap of the API's credentials: a CA, a serving certificate signed by it, an admin
// bearer token, and a kubeconfig that kubectl uses as is. Everything lives in the data dir and is
// reused on later starts, so a kubeconfig handed out once keeps working.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, randomBytes } from 'node:crypto';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { stringify as yamlStringify } from 'yaml';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

export interface Credentials {
  caPem: string;
  certPem: string;
  keyPem: string;
  token: string;
}

export interface BootstrapOptions {
  dataDir: string;
  /** Host the API listens on, put in the certificate's SANs and the kubeconfig's server URL. */
  listenHost: string;
  listenPort: number;
  /** The `kubernetes` Service's cluster IP (first address of the service CIDR), also a SAN. */
  serviceIP?: string;
  clusterDomain: string;
  /** Further addresses the API serves on (e.g. the one advertised to pods), also SANs. */
  extraIPs?: string[];
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function serial(): string {
  // Positive 16-byte serial (leading byte < 0x80).
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

async function createCA(): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=portico-ca',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + TEN_YEARS_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

/** The names a client may use to reach the API: listen address, localhost, the kubernetes Service's names and IP. */
export function servingNames(opts: Pick<BootstrapOptions, 'listenHost' | 'serviceIP' | 'clusterDomain' | 'extraIPs'>): { dns: string[]; ips: string[] } {
  const dns = new Set(['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${opts.clusterDomain}`]);
  const ips = new Set(['127.0.0.1', '::1']);
  if (opts.serviceIP) ips.add(opts.serviceIP);
  for (const ip of opts.extraIPs ?? []) ips.add(ip);
  if (isIP(opts.listenHost)) {
    if (opts.listenHost !== '0.0.0.0' && opts.listenHost !== '::') ips.add(opts.listenHost);
  } else if (opts.listenHost) {
    dns.add(opts.listenHost);
  }
  return { dns: [...dns], ips: [...ips] };
}

async function createServing(ca: { cert: x509.X509Certificate; keys: CryptoKeyPair }, names: { dns: string[]; ips: string[] }) {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=portico-apiserver',
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + TEN_YEARS_MS),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem') + '\n', keyPem: pem('PRIVATE KEY', keyDer) };
}

/** Loads the credentials from the data dir, creating whatever is missing. */
export async function ensureCredentials(opts: BootstrapOptions): Promise<Credentials> {
  const dir = join(opts.dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = {
    ca: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'apiserver.crt'),
    key: join(dir, 'apiserver.key'),
    token: join(dir, 'admin.token'),
    names: join(dir, 'apiserver.names.json'),
  };
  const names = servingNames(opts);
  const namesJson = JSON.stringify(names);

  let caPem: string;
  let ca: { cert: x509.X509Certificate; keys: CryptoKeyPair } | undefined;
  if (existsSync(paths.ca) && existsSync(paths.caKey)) {
    caPem = await readFile(paths.ca, 'utf8');
  } else {
    ca = await createCA();
    caPem = ca.cert.toString('pem') + '\n';
    const caKeyDer = await webcrypto.subtle.exportKey('pkcs8', ca.keys.privateKey);
    await writeFile(paths.caKey, pem('PRIVATE KEY', caKeyDer), { mode: 0o600 });
    await writeFile(paths.ca, caPem);
  }

  // The serving certificate is re-issued when it lacks a wanted name (e.g. a new --api-listen host).
  // One that also names more is kept: the address advertised to pods is added after start-up, and
  // the next start must not drop it again.
  const covered = existsSync(paths.names) && coversNames(JSON.parse(await readFile(paths.names, 'utf8')) as unknown, names);
  let certPem: string;
  let keyPem: string;
  if (covered && existsSync(paths.cert) && existsSync(paths.key)) {
    certPem = await readFile(paths.cert, 'utf8');
    keyPem = await readFile(paths.key, 'utf8');
  } else {
    ca ??= await loadCA(caPem, await readFile(paths.caKey, 'utf8'));
    ({ certPem, keyPem } = await createServing(ca, names));
    await writeFile(paths.key, keyPem, { mode: 0o600 });
    await writeFile(paths.cert, certPem);
    await writeFile(paths.names, namesJson);
  }

  let token: string;
  if (existsSync(paths.token)) {
    token = (await readFile(paths.token, 'utf8')).trim();
  } else {
    token = randomBytes(32).toString('base64url');
    await writeFile(paths.token, token + '\n', { mode: 0o600 });
  }
  await chmod(dir, 0o700);
  return { caPem, certPem, keyPem, token };
}

function coversNames(had: unknown, want: { dns: string[]; ips: string[] }): boolean {
  const h = had as { dns?: unknown; ips?: unknown } | null;
  if (!h || !Array.isArray(h.dns) || !Array.isArray(h.ips)) return false;
  const dns = new Set(h.dns as unknown[]);
  const ips = new Set(h.ips as unknown[]);
  return want.dns.every((d) => dns.has(d)) && want.ips.every((i) => ips.has(i));
}

async function loadCA(certPem: string, keyPem: string) {
  const cert = new x509.X509Certificate(certPem);
  const der = Buffer.from(keyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
  const publicKey = await cert.publicKey.export(ALG, ['verify'], webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  return { cert, keys: { privateKey, publicKey } as CryptoKeyPair };
}

/** The URL clients use: a wildcard listen address is reached through loopback. */
export function clientURL(host: string, port: number): string {
  let h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  if (isIP(h) === 6) h = `[${h}]`;
  return `https://${h}:${port}`;
}

export function kubeconfigYAML(server: string, creds: Pick<Credentials, 'caPem' | 'token'>, name = 'portico'): string {
  return yamlStringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': Buffer.from(creds.caPem).toString('base64') } }],
    users: [{ name: `${name}-admin`, user: { token: creds.token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  });
}

export async function writeKubeconfig(dataDir: string, server: string, creds: Credentials): Promise<string> {
  const path = join(dataDir, 'kubeconfig.yaml');
  await writeFile(path, kubeconfigYAML(server, creds), { mode: 0o600 });
  return path;
}
