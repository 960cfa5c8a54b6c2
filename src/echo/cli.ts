// `portico echo`: runs the echo server until SIGINT/SIGTERM.
import { hostname } from 'node:os';
import { UsageError } from '../util/errors.js';
import { parseFlags, parseHostPort, type FlagSpec } from '../cli/flags.js';
import { startEcho, hostPort, type Listen } from './server.js';

const FLAGS = {
  http: { type: 'string', multiple: true },
  tcp: { type: 'string', multiple: true },
  udp: { type: 'string', multiple: true },
  name: { type: 'string' },
} as const satisfies FlagSpec;

const USAGE = `usage: portico echo [--http HOST:PORT] [--tcp HOST:PORT] [--udp HOST:PORT] [--name NAME]

Answers with its name, the local address it was reached on and the client's address:
HTTP with a JSON body {pod, protocol, address, port, client, method, path}; raw TCP with one JSON
line, then echoes what it receives; UDP with one JSON datagram (the datagram received in "data").

flags (each listener flag may be repeated; port 0 picks one):
  --http HOST:PORT   HTTP listener (default 0.0.0.0:8080 when no listener is given)
  --tcp HOST:PORT    raw TCP listener
  --udp HOST:PORT    UDP listener
  --name NAME        the name it answers with (default: $POD_NAME, else the host name)`;

function listens(flag: string, v: string | boolean | undefined | string[]): Listen[] {
  if (v === undefined || typeof v === 'boolean') return [];
  return (Array.isArray(v) ? v : [v]).map((s) => parseHostPort(flag, s));
}

export async function runEcho(argv: string[]): Promise<void> {
  const v = parseFlags(argv, FLAGS, USAGE) as unknown as Record<keyof typeof FLAGS, string | string[] | undefined>;
  let http = listens('http', v.http);
  const tcp = listens('tcp', v.tcp);
  const udp = listens('udp', v.udp);
  if (!http.length && !tcp.length && !udp.length) http = [{ host: '0.0.0.0', port: 8080 }];
  const name = typeof v.name === 'string' ? v.name : process.env.POD_NAME || hostname();
  if (!name) throw new UsageError('--name: must not be empty');
  const srv = await startEcho({ name, http, tcp, udp });
  const parts = [
    ...srv.http.map((a) => `http ${hostPort(a.address, a.port)}`),
    ...srv.tcp.map((a) => `tcp ${hostPort(a.address, a.port)}`),
    ...srv.udp.map((a) => `udp ${hostPort(a.address, a.port)}`),
  ];
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    srv.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Announced only once the signal handlers are in: whoever waits for this line may signal at once.
  process.stdout.write(`Portico echo is up: ${name} on ${parts.join(', ')}\n`);
}
