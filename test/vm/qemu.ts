// A throwaway virtual machine for what this machine's kernel cannot do (it is built without IP_VS):
// `qemu-system-x86_64` in software emulation boots Debian's linux-image-amd64 with a busybox-static
// initramfs made here at run time, mounts the host's root over 9p read-only with a tmpfs overlay on
// top (so the guest can write anywhere without touching the host), loads the modules the data
// planes need and runs one command in that root, as root, at the host's paths. The command's
// stdout, stderr and exit code come back through a second, writable 9p share (a temp dir); the
// serial console is kept for diagnostics (kernel messages, a failed mount).
//
// Bounded: the guest powers off after the command (or after its own deadline), and the host kills
// qemu by pid after the bound. Everything made (temp dir, initramfs, share) is removed afterwards.
// When qemu, busybox or a kernel with ip_vs is missing, runInVm throws VmUnavailableError, whose
// message says what to install: callers turn it into a failing test, never a skip.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class VmUnavailableError extends Error {
  override name = 'VmUnavailableError';
  readonly code = 'VM_UNAVAILABLE';
}

/** What `scripts/install-test-deps.sh` installs for the VM (Debian package names). */
export const VM_PACKAGES = ['qemu-system-x86', 'linux-image-amd64', 'busybox-static', 'ipvsadm', 'ipset'] as const;

const unavailable = (what: string) =>
  new VmUnavailableError(`${what}; the IPVS tests need a VM: apt-get install ${VM_PACKAGES.join(' ')} (scripts/install-test-deps.sh does this)`);

/** Modules the guest needs to mount its root: loaded from the initramfs, in dependency order. */
export const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/**
 * Modules loaded (by the root's own `modprobe`, which also follows softdeps such as crc32c before
 * libcrc32c) once the root is mounted: IPVS and its schedulers, what the scenario topology builds
 * (veth, bridges with br_netfilter, dummy), nftables, iptables (both variants) and ipset.
 */
export const DATAPLANE_MODULES = [
  'ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_lblc', 'ip_vs_lblcr', 'ip_vs_dh', 'ip_vs_sh', 'ip_vs_sed', 'ip_vs_nq', 'ip_vs_mh',
  'veth', 'bridge', 'br_netfilter', 'dummy',
  'nf_conntrack', 'nf_conntrack_netlink', 'nf_nat', 'nf_tables', 'nft_chain_nat', 'nft_ct', 'nft_nat', 'nft_masq', 'nft_numgen', 'nft_fib_inet', 'nft_fib_ipv4',
  'nft_reject_inet', 'nft_compat', 'nft_limit',
  'ip_tables', 'iptable_nat', 'iptable_filter', 'iptable_mangle', 'ip6_tables', 'ip6table_nat', 'ip6table_filter',
  'xt_comment', 'xt_mark', 'xt_MASQUERADE', 'xt_addrtype', 'xt_conntrack', 'xt_nat', 'xt_statistic', 'xt_recent', 'xt_multiport', 'xt_set', 'xt_physdev', 'ipt_REJECT', 'ip6t_REJECT',
  'ip_set', 'ip_set_hash_ip', 'ip_set_hash_ipport', 'ip_set_hash_ipportip', 'ip_set_hash_ipportnet', 'ip_set_hash_net', 'ip_set_bitmap_port',
];

export interface Kernel {
  release: string;
  vmlinuz: string;
  modulesDir: string;
}

/** The newest /boot/vmlinuz-* whose module tree has ip_vs. */
export async function findKernel(boot = '/boot', modules = '/lib/modules'): Promise<Kernel> {
  const names = existsSync(boot) ? await readdir(boot) : [];
  const releases = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((r) => existsSync(join(modules, r, 'kernel/net/netfilter/ipvs/ip_vs.ko')) || existsSync(join(modules, r, 'kernel/net/netfilter/ipvs/ip_vs.ko.xz')))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const release = releases.at(-1);
  if (!release) throw unavailable(`no kernel with the ip_vs module in ${boot} (vmlinuz-*) and ${modules}`);
  return { release, vmlinuz: join(boot, `vmlinuz-${release}`), modulesDir: join(modules, release) };
}

/**
 * The modules to insmod for `wanted`, dependencies first, from modules.dep text
 * (`path: dep dep ...`, a module's dependencies listed so that the last is loaded first).
 */
export function moduleLoadOrder(modulesDep: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  const pathOf = new Map<string, string>();
  for (const line of modulesDep.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const path = line.slice(0, i).trim();
    deps.set(path, line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
    pathOf.set(moduleName(path), path);
  }
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of [...(deps.get(path) ?? [])].reverse()) visit(d);
    out.push(path);
  };
  for (const w of wanted) {
    const p = pathOf.get(w.replace(/-/g, '_'));
    if (!p) throw new Error(`module ${w} is not in modules.dep`);
    visit(p);
  }
  return out;
}

/** `kernel/fs/9p/9p.ko` → `9p` (dashes as underscores, as the kernel names modules). */
export function moduleName(path: string): string {
  return (path.split('/').pop() ?? '').replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');
}

export interface CpioEntry {
  path: string;
  /** File content; a directory when absent and `symlink` is absent. */
  data?: Buffer;
  symlink?: string;
  mode?: number;
}

/** An uncompressed `newc` cpio archive (what the kernel unpacks as an initramfs). */
export function cpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  const push = (name: string, mode: number, body: Buffer) => {
    const nameBuf = Buffer.from(name + '\0');
    const fields = [ino++, mode, 0, 0, 1, 0, body.length, 0, 0, 0, 0, nameBuf.length, 0];
    const header = Buffer.from('070701' + fields.map(hex).join(''));
    parts.push(header, nameBuf, pad(header.length + nameBuf.length), body, pad(body.length));
  };
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (e.symlink !== undefined) push(name, 0o120777, Buffer.from(e.symlink));
    else if (e.data) push(name, 0o100000 | (e.mode ?? 0o644), e.data);
    else push(name, 0o040000 | (e.mode ?? 0o755), Buffer.alloc(0));
  }
  push('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

export interface VmRunOptions {
  /** The command, run with `sh -c` in the guest (host paths are the same inside). */
  command: string;
  /** Working directory in the guest; default the host's cwd. */
  cwd?: string;
  /** Extra environment for the command (PATH and HOME are set). */
  env?: Record<string, string>;
  /** Kill qemu after this long; the guest stops the command a little earlier. Default 20 min. */
  timeoutMs?: number;
  memoryMb?: number;
  cpus?: number;
  /** Called with each line of the command's stdout as it appears (polled from the share). */
  onStdout?: (line: string) => void;
}

export interface VmRunResult {
  /** The command's exit code; null when it never finished (timeout, crash). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The serial console (kernel and init messages). */
  console: string;
  /** Seconds from starting qemu to the command starting in the guest. */
  bootSeconds: number;
  /** Files the command left in $VM_OUT (the writable share), by name. */
  files: Map<string, Buffer>;
  timedOut: boolean;
}

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, bin);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function initScript(o: { modules: string[]; cwd: string; env: Record<string, string>; command: string; outTag: string; outPath: string; guestTimeoutS: number }): string {
  const envLine = Object.entries(o.env).map(([k, v]) => `${k}=${sh(v)}`).join(' ');
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "portico-vm: loading boot modules"
for m in ${o.modules.map((m) => `/mods/${m}`).join(' ')}; do insmod "$m" || echo "portico-vm: insmod $m failed"; done
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /lower || echo "portico-vm: mounting the host root failed"
mount -t tmpfs -o size=60% rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || echo "portico-vm: overlay failed"
for d in proc sys dev; do mount --move /$d /newroot/$d; done
# /tmp stays the overlay's (writes land in its tmpfs upper): a fresh tmpfs there would hide a
# checkout under the host's /tmp, the test's own working directory.
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot/dev/pts /newroot/dev/shm /newroot/run/netns ${sh('/newroot' + o.outPath)}
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 ${o.outTag} ${sh('/newroot' + o.outPath)} || echo "portico-vm: mounting the output share failed"
# Modules the kernel asks for later (request_module) come from the root's own modprobe.
printf '#!/bin/sh\\nexec /bin/chroot /newroot /sbin/modprobe "$@"\\n' > /bin/modprobe-root
chmod +x /bin/modprobe-root
echo /bin/modprobe-root > /newroot/proc/sys/kernel/modprobe
echo 1 > /newroot/proc/sys/net/ipv4/ip_forward
ip link set lo up 2>/dev/null
echo "portico-vm: running the command"
chroot /newroot /bin/sh -c ${sh(`cd ${sh(o.cwd)} && ${envLine} timeout ${o.guestTimeoutS} sh -c ${sh(o.command)} >${sh(o.outPath + '/.stdout')} 2>${sh(o.outPath + '/.stderr')}; echo $? >${sh(o.outPath + '/.rc')}`)}
sync
echo "portico-vm: done"
poweroff -f
`;
}

/** Boots the VM, runs the command, returns what it printed; throws VmUnavailableError when it cannot boot. */
export async function runInVm(o: VmRunOptions): Promise<VmRunResult> {
  const qemu = which('qemu-system-x86_64');
  if (!qemu) throw unavailable('qemu-system-x86_64 is not installed');
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) throw unavailable('busybox (static) is not installed');
  const kernel = await findKernel();
  const timeoutMs = o.timeoutMs ?? 20 * 60_000;
  const dir = await mkdtemp(join(tmpdir(), 'portico-vm-'));
  const out = join(dir, 'out');
  let child: ReturnType<typeof spawn> | undefined;
  let poll: NodeJS.Timeout | undefined;
  try {
    await mkdir(out);
    const depText = await readFile(join(kernel.modulesDir, 'modules.dep'), 'utf8');
    const order = moduleLoadOrder(depText, [...BOOT_MODULES, 'crc32c_generic', ...DATAPLANE_MODULES]);
    const entries: CpioEntry[] = ['bin', 'dev', 'proc', 'sys', 'mods', 'tmp'].map((d) => ({ path: d }));
    entries.push({ path: 'bin/busybox', data: await readFile(busybox), mode: 0o755 });
    for (const p of order) entries.push({ path: `mods/${moduleName(p)}.ko`, data: await readFile(join(kernel.modulesDir, p)) });
    const guestTimeoutS = Math.max(10, Math.floor(timeoutMs / 1000) - 30);
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', PORTICO_VM: '1', VM_OUT: out, ...(o.env ?? {}) };
    entries.push({ path: 'init', mode: 0o755, data: Buffer.from(initScript({ modules: order.map((p) => `${moduleName(p)}.ko`), cwd: o.cwd ?? process.cwd(), env, command: o.command, outTag: 'out', outPath: out, guestTimeoutS })) });
    const initrd = join(dir, 'initrd.cpio');
    await writeFile(initrd, cpio(entries));

    const args = [
      '-machine', 'q35', '-accel', 'tcg', '-cpu', 'max', '-smp', String(o.cpus ?? 2), '-m', String(o.memoryMb ?? 3072),
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot', '-nic', 'none',
      '-kernel', kernel.vmlinuz, '-initrd', initrd,
      '-append', 'console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init',
      '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${out},mount_tag=out,security_model=none,multidevs=remap`,
    ];
    const started = Date.now();
    let consoleText = '';
    let bootSeconds = 0;
    let timedOut = false;
    child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const c = child;
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      consoleText = (consoleText + d).slice(-512 * 1024);
      if (!bootSeconds && consoleText.includes('portico-vm: running the command')) bootSeconds = (Date.now() - started) / 1000;
    });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (consoleText = (consoleText + d).slice(-512 * 1024)));
    // Stream stdout lines as the guest writes them (9p writes reach the host directory at once).
    let streamed = 0;
    let partial = '';
    const drain = async () => {
      if (!o.onStdout) return;
      const text = await readFile(join(out, '.stdout'), 'utf8').catch(() => '');
      if (text.length <= streamed) return;
      partial += text.slice(streamed);
      streamed = text.length;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) o.onStdout(l);
    };
    poll = setInterval(() => void drain(), 1000);
    const exit = await new Promise<number | null>((resolve, reject) => {
      const t = setTimeout(() => {
        timedOut = true;
        if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
      }, timeoutMs);
      c.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      c.once('close', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
    clearInterval(poll);
    await drain();
    if (partial && o.onStdout) o.onStdout(partial);
    const rcText = await readFile(join(out, '.rc'), 'utf8').catch(() => '');
    const files = new Map<string, Buffer>();
    for (const f of await readdir(out)) if (!f.startsWith('.')) files.set(f, await readFile(join(out, f)));
    const result: VmRunResult = {
      code: rcText.trim() === '' ? null : Number(rcText.trim()),
      stdout: await readFile(join(out, '.stdout'), 'utf8').catch(() => ''),
      stderr: await readFile(join(out, '.stderr'), 'utf8').catch(() => ''),
      console: consoleText,
      bootSeconds,
      files,
      timedOut,
    };
    if (result.code === null && !timedOut && !consoleText.includes('portico-vm: running the command')) {
      throw unavailable(`the VM did not boot (qemu exit ${exit}); console:\n${consoleText.slice(-3000)}`);
    }
    return result;
  } finally {
    if (poll) clearInterval(poll);
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}
