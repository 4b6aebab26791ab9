/**
 * baresip (Debian's `baresip-core`, 1.0.0) as a scripted SIP softphone for tests: a real third-party
 * SIP stack and RTP/codec implementation (libre/librem, spandsp's G.722, libopus) that talks to the
 * gateway, sends a sine tone, and records what it decodes, driven over its TCP control socket.
 *
 * Each `startBaresip()` runs one `baresip -4 -s -f DIR` (IPv4 only, SIP trace on stdout: see
 * `sipMessages()`, `sentSdpAddresses()`) on a temporary config folder holding:
 *
 * - `config`:
 *   - `sip_listen 127.0.0.1:P` (UDP and TCP on P; baresip also opens SIP/TLS on P + 1, so both are
 *     picked free);
 *   - `net_interface <sdpAddress>`: baresip 1.0 takes an IP address here as its "local network
 *     address" and writes it, and only it, in the SDP (`o=` and `c=`); see "The multi-homed
 *     softphone" below;
 *   - `rtp_ports 30000-39999` (outside the gateway's default 20000–29999);
 *   - modules: the one codec module under test (`g711` for PCMU, `g722`, `opus`), restricted further
 *     by the account's `audio_codecs`; `ausine` as the audio source; `sndfile`, an audio filter
 *     that writes what is sent (`dump-<time>-enc.wav`) and what is decoded (`dump-<time>-dec.wav`)
 *     into `rec/`; `account` to read `accounts`; `menu` (it registers the `dial`, `hangup`, …
 *     commands) and `ctrl_tcp` (`ctrl_tcp_listen 127.0.0.1:C`). No UI module (no `stdio`, no
 *     `cons`), no audio driver (no `alsa`): with no player module registered, baresip 1.0 starts no
 *     player at all and still runs its decode filters, so `sndfile` records every decoded frame.
 *     No `stun`/`turn`/`ice`, no `uuid` (nothing written next to the config);
 *   - `dns_server 127.0.0.1:53`: nothing here needs DNS (every address is an IP), but were a name
 *     ever looked up, the query would stay on loopback;
 * - `accounts`: `<sip:USER@127.0.0.1>;answermode=auto;audio_codecs=…;regint=0;ptime=…` — a local
 *   account, never registered, answering every inbound call at once;
 * - `contacts`: empty.
 *
 * baresip stays up with stdin closed (no UI module reads it) and is stopped with SIGTERM (then
 * SIGKILL after 5 s); `close()` waits for the process to exit and removes the folder.
 *
 * **ausine's tone.** baresip 1.0's `ausine` is a pure sine of the device's frequency
 * (`audio_source ausine,1000`), at half of full scale (peak 16383), the same on both channels, and
 * only at 48 kHz stereo: hence `ausrc_srate 48000` and `ausrc_channels 2`; baresip's own resampler
 * brings it to the codec's rate and channels (8 kHz mono for PCMU and G.722's RTP clock — G.722
 * itself runs at 16 kHz — and 48 kHz stereo for Opus). No sweep, no second tone.
 *
 * **What is recorded.** `sndfile` writes the decoder's output, frame by frame as packets are
 * decoded (PLC frames for losses), at the codec's rate and channels: 8000/1 (PCMU), 16000/1
 * (G.722), 48000/2 (Opus). libsndfile writes straight to the file (no buffering) and fixes the
 * WAV header's sizes only at close, so `decoded()` reads the `data` chunk up to the end of the
 * file, live. Channel 0 is returned.
 *
 * **Control protocol.** `ctrl_tcp` (one connection at a time) reads netstrings
 * (`<length>:<bytes>,`) holding JSON `{"command":"dial","params":"sip:…","token":"…"}`; the command
 * line `command params` runs as a long command of the registered modules (menu's `dial`,
 * `hangup`, `accept`, …). It answers with a netstring `{"response":true,"ok":true|false,
 * "data":"…","token":"…"}`, and pushes events as netstrings `{"event":true,"class":"call",
 * "type":"CALL_ESTABLISHED","param":"…","direction":"incoming"|"outgoing","peeruri":"…",
 * "id":"…","accountaor":"…"}` (types CALL_INCOMING, CALL_RINGING, CALL_PROGRESS,
 * CALL_ESTABLISHED, CALL_RTPESTAB, CALL_RTCP, CALL_CLOSED, CALL_REMOTE_SDP, CALL_LOCAL_SDP, …;
 * CALL_INCOMING only when the account answers manually). Checked against baresip 1.0.0's modules/ctrl_tcp sources and
 * against the installed binary.
 *
 * **The multi-homed softphone (`sdpAddress`).** A softphone on a host with several addresses may
 * write one address in its SDP and send its RTP from another. To stage that on loopback only:
 * `net_interface` set to an IP makes baresip write that IP (say 127.0.0.2) in `c=`, while its RTP
 * socket is bound to 0.0.0.0 (baresip 1.0 `stream.c`: "we listen on all interfaces"), so the
 * kernel picks the source address of each datagram by route: sent to the gateway on 127.0.0.1,
 * it leaves from 127.0.0.1. SIP is bound by `sip_listen` to `sipAddress` (127.0.0.1 by default),
 * so signalling comes from 127.0.0.1 too. Anything sent to the SDP address before the gateway has
 * learned the source still arrives (every 127/8 address is local on Linux, and the RTP socket
 * listens on all of them). Checked with `tcpdump -i any -n udp`: the INVITE's and the 200's SDP say
 * `c=IN IP4 127.0.0.2` while baresip's RTP and RTCP come from 127.0.0.1:<its m= port> (and + 1);
 * the gateway's first few packets go to 127.0.0.2:<port> (the SDP's address) and the rest to
 * 127.0.0.1:<port> once it has learned the source; every packet of the call is on 127.0.0.0/8.
 * With the default `sdpAddress` (127.0.0.1) the SDP and the RTP agree.
 *
 * `sipAddress` (e.g. 127.0.0.3, with the gateway's LEGWAY_SIP_TRUNKS covering it) moves the
 * signalling to a third address: then neither the SDP's address nor the signalling's is the one
 * the RTP comes from. baresip's account and Contact use that address too (`uri`).
 *
 * A test can check both halves of the staging: the `c=` baresip wrote, from its SIP trace
 * (`sentSdpAddresses()`), and where its RTP came from, from the gateway's leg statistics
 * (`GET /v1/legs/:id` → `stats.source`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, closeSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../sipp/sipp.js';
import { peerMissing } from './requiredPeers.js';

export type BaresipCodec = 'PCMU' | 'G722' | 'opus';

const MODULE_DIR = '/usr/lib/baresip/modules';
/** The escape character that starts baresip's terminal colour codes. */
const ESC = String.fromCharCode(0x1b);
const CODEC_MODULE: Record<BaresipCodec, string> = { PCMU: 'g711', G722: 'g722', opus: 'opus' };
/**
 * The account's `audio_codecs` value: what baresip offers and accepts. Written as name/rate/channels
 * with the rate baresip registers the codec under (G.722 is `G722/16000/1` although its RTP clock
 * is 8000: a bare `G722` is looked up as 8000 Hz, is not found, and the account falls back to every
 * loaded codec).
 */
const CODEC_NAME: Record<BaresipCodec, string> = { PCMU: 'PCMU/8000/1', G722: 'G722/16000/1', opus: 'opus/48000/2' };
const BASE_MODULES = ['ausine', 'sndfile', 'account', 'menu', 'ctrl_tcp'];

/** Why baresip tests cannot run here, or undefined when the binary and the modules they load are installed. */
export function baresipMissing(codecs: readonly BaresipCodec[] = ['PCMU', 'G722', 'opus']): string | undefined {
  const probe = spawnSync('baresip', ['-h'], { encoding: 'utf8', timeout: 5000 });
  if (probe.error) return peerMissing(`baresip not found (${probe.error.message}); install the Debian package baresip-core`);
  const modules = [...BASE_MODULES, ...codecs.map((c) => CODEC_MODULE[c])];
  const absent = modules.filter((m) => !existsSync(join(MODULE_DIR, `${m}.so`)));
  if (absent.length > 0) return peerMissing(`baresip modules missing from ${MODULE_DIR}: ${absent.join(', ')} (Debian package baresip-core)`);
  return undefined;
}

export interface BaresipOptions {
  /** The only audio codec baresip offers and accepts (its module is the only codec module loaded). */
  codec: BaresipCodec;
  /** Frequency of the sine baresip sends (ausine), Hz, 10–20000. */
  toneHz: number;
  /** The address baresip writes in its SDP (`c=`, via `net_interface`); 127.0.0.1 by default. */
  sdpAddress?: string;
  /** The address baresip's SIP binds to (`sip_listen`); 127.0.0.1 by default. */
  sipAddress?: string;
  /** User part of the account (and of `uri`); `baresip` by default. */
  user?: string;
  /** The account's `ptime` (what baresip sends and asks for); 20 by default. */
  ptimeMs?: number;
  /** Extra `config` lines. */
  extraConfig?: readonly string[];
}

/** A pushed ctrl_tcp event. */
export interface BaresipEvent {
  event: true;
  class?: string;
  type: string;
  param?: string;
  direction?: string;
  peeruri?: string;
  id?: string;
  [key: string]: unknown;
}

/** One SIP message of baresip's trace. */
export interface SipTraceMessage {
  transport: string;
  /** `address:port` */
  from: string;
  to: string;
  /** Sent by baresip (from its sip_listen address), else received. */
  sent: boolean;
  text: string;
}

/** The answer to one command. */
export interface BaresipResponse {
  response: true;
  ok: boolean;
  data?: string;
  token?: string;
}

/** Decoded audio as baresip's sndfile filter wrote it: channel 0 only. */
export interface DecodedAudio {
  path: string;
  sampleRate: number;
  channels: number;
  samples: Int16Array;
}

interface WavLayout {
  sampleRate: number;
  channels: number;
  dataOffset: number;
}

/** Reads a WAV's fmt chunk and where its data starts, ignoring the data size (fixed only at close). */
function wavLayout(path: string): WavLayout | undefined {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return undefined;
    let at = 12;
    let sampleRate = 0;
    let channels = 0;
    while (at + 8 <= n) {
      const id = head.toString('latin1', at, at + 4);
      const size = head.readUInt32LE(at + 4);
      if (id === 'fmt ') {
        const format = head.readUInt16LE(at + 8);
        channels = head.readUInt16LE(at + 10);
        sampleRate = head.readUInt32LE(at + 12);
        const bits = head.readUInt16LE(at + 22);
        if (format !== 1 || bits !== 16) throw new Error(`${path}: not 16-bit PCM (format ${format}, ${bits} bits)`);
      }
      if (id === 'data') return sampleRate > 0 ? { sampleRate, channels, dataOffset: at + 8 } : undefined;
      at += 8 + size + (size % 2);
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** A port P such that P (UDP and TCP) and P + 1 (TCP) are free on 127.0.0.1: baresip puts SIP/TLS on sip_listen + 1. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await tcpFree(port + 1))) return port;
  }
  throw new Error('no free pair of ports for baresip');
}

function tcpFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A running baresip. */
export class Baresip {
  /** Every event ctrl_tcp pushed, in order. */
  readonly events: BaresipEvent[] = [];
  private readonly responses: ((r: BaresipResponse) => void)[] = [];
  private readonly waiters: { test: (e: BaresipEvent) => boolean; resolve: (e: BaresipEvent) => void }[] = [];
  private control: Socket | undefined;
  private inbox = Buffer.alloc(0);
  private out = '';
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private layout: { path: string; layout: WavLayout } | undefined;
  private nextToken = 1;
  private archived = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    /** The SIP port (UDP and TCP) on `sipAddress`. */
    readonly sipPort: number,
    readonly controlPort: number,
    readonly options: Required<Pick<BaresipOptions, 'codec' | 'toneHz' | 'sdpAddress' | 'sipAddress' | 'user' | 'ptimeMs'>>,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
      child.once('error', () => {
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  /** The account's address, to call baresip: `sip:USER@SIPADDRESS:PORT`. */
  get uri(): string {
    return `sip:${this.options.user}@${this.options.sipAddress}:${this.sipPort}`;
  }

  /** The folder sndfile records into. */
  get recordingDir(): string {
    return join(this.dir, 'rec');
  }

  /**
   * What baresip printed so far (for failure messages): its log and SIP trace, without the menu
   * module's once-a-tick call status line, and only the last `maxChars` characters.
   */
  output(maxChars = 12_000): string {
    const text = this.out.replace(/\[\d+:\d\d:\d\d\] audio=\d+\/\d+ \(bit\/s\)\s*/g, '');
    return text.length > maxChars ? `…${text.slice(-maxChars)}` : text;
  }

  /** Every SIP message baresip sent or received so far, from its SIP trace (`-s`). */
  sipMessages(): SipTraceMessage[] {
    const messages: SipTraceMessage[] = [];
    // Each traced message: ESC[36;1m "#" NL "UDP|TCP <from> -> <to>" NL <message> ESC[;m
    const re = new RegExp(String.raw`(UDP|TCP|TLS) (\S+) -> (\S+)\r?\n([\s\S]*?)${ESC}\[;m`, 'g');
    for (const m of this.out.matchAll(re)) {
      const from = m[2]!;
      messages.push({ transport: m[1]!, from, to: m[3]!, sent: from === `${this.options.sipAddress}:${this.sipPort}`, text: m[4]! });
    }
    return messages;
  }

  /**
   * The `c=` addresses of the SDP baresip sent, once there is one: the trace comes through
   * baresip's stdout, which may lag behind its control events (CALL_ESTABLISHED).
   */
  async sdpAddressesSent(timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.sentSdpAddresses().length === 0) {
      if (Date.now() > deadline) throw new Error(`no SDP sent by baresip in its SIP trace within ${timeoutMs} ms:\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.sentSdpAddresses();
  }

  /** The `c=` addresses of every SDP baresip sent so far (offers and answers). */
  sentSdpAddresses(): string[] {
    return this.sipMessages()
      .filter((m) => m.sent)
      .flatMap((m) => [...m.text.matchAll(/^c=IN IP4 (\S+)/gm)].map((c) => c[1]!));
  }

  static async start(options: BaresipOptions): Promise<Baresip> {
    const opts = {
      codec: options.codec,
      toneHz: options.toneHz,
      sdpAddress: options.sdpAddress ?? '127.0.0.1',
      sipAddress: options.sipAddress ?? '127.0.0.1',
      user: options.user ?? 'baresip',
      ptimeMs: options.ptimeMs ?? 20,
    };
    for (const a of [opts.sdpAddress, opts.sipAddress]) {
      if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a)) throw new Error(`baresip addresses stay on 127.0.0.0/8, not ${a}`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'legway-baresip-'));
    mkdirSync(join(dir, 'rec'));
    const sipPort = await freePortPair();
    let controlPort = await freePort();
    while (controlPort === sipPort || controlPort === sipPort + 1) controlPort = await freePort();
    const modules = [CODEC_MODULE[opts.codec], 'ausine', 'sndfile'];
    const config = [
      'poll_method epoll',
      `sip_listen ${opts.sipAddress}:${sipPort}`,
      `net_interface ${opts.sdpAddress}`,
      'dns_server 127.0.0.1:53',
      'call_local_timeout 120',
      'call_max_calls 4',
      'audio_buffer 20-160',
      `audio_source ausine,${opts.toneHz}`,
      'ausrc_srate 48000',
      'ausrc_channels 2',
      'audio_level no',
      'ausrc_format s16',
      'auplay_format s16',
      'auenc_format s16',
      'audec_format s16',
      'rtp_ports 30000-39999',
      'rtcp_mux no',
      'jitter_buffer_delay 5-10',
      'rtp_stats no',
      `module_path ${MODULE_DIR}`,
      ...modules.map((m) => `module ${m}.so`),
      'module_tmp account.so',
      'module_app menu.so',
      'module_app ctrl_tcp.so',
      `ctrl_tcp_listen 127.0.0.1:${controlPort}`,
      `snd_path ${join(dir, 'rec')}`,
      ...(options.extraConfig ?? []),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'config'), config);
    writeFileSync(
      join(dir, 'accounts'),
      `<sip:${opts.user}@${opts.sipAddress}>;answermode=auto;audio_codecs=${CODEC_NAME[opts.codec]};regint=0;ptime=${opts.ptimeMs}\n`,
    );
    writeFileSync(join(dir, 'contacts'), '');

    // -4: IPv4 only; -s: SIP trace on stdout (every message sent and received, see sipMessages()).
    const child = spawn('baresip', ['-4', '-s', '-f', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const b = new Baresip(child, dir, sipPort, controlPort, opts);
    try {
      await b.waitForOutput('baresip is ready', 10_000);
      await b.connectControl();
    } catch (err) {
      await b.close();
      throw err;
    }
    return b;
  }

  private async waitForOutput(text: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.out.includes(text)) {
      if (this.exitCode !== undefined) throw new Error(`baresip exited (${String(this.exitCode)}) before "${text}":\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`baresip did not print "${text}" within ${timeoutMs} ms:\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async connectControl(): Promise<void> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: this.controlPort }, () => resolve(s));
      s.once('error', reject);
    });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined);
    this.control = socket;
  }

  /** Splits the control stream into netstrings and dispatches their JSON. */
  private receive(chunk: Buffer): void {
    this.inbox = Buffer.concat([this.inbox, chunk]);
    for (;;) {
      const colon = this.inbox.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(this.inbox.toString('latin1', 0, colon));
      if (!Number.isInteger(length)) throw new Error(`baresip ctrl_tcp: not a netstring: ${this.inbox.toString('latin1', 0, 40)}`);
      if (this.inbox.length < colon + 1 + length + 1) return;
      const body = this.inbox.toString('utf8', colon + 1, colon + 1 + length);
      this.inbox = this.inbox.subarray(colon + 1 + length + 1);
      const message = JSON.parse(body) as Record<string, unknown>;
      if (message.response === true) {
        this.responses.shift()?.(message as unknown as BaresipResponse);
      } else if (message.event === true || message.event === 'true') {
        const event = message as unknown as BaresipEvent;
        this.events.push(event);
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i]!;
          if (w.test(event)) {
            this.waiters.splice(i, 1);
            w.resolve(event);
          }
        }
      }
    }
  }

  /** Runs one command (`dial`, `hangup`, `accept`, …) and resolves with its response. */
  command(command: string, params?: string, timeoutMs = 5000): Promise<BaresipResponse> {
    const socket = this.control;
    if (!socket) return Promise.reject(new Error('baresip control socket not connected'));
    const json = Buffer.from(JSON.stringify({ command, ...(params !== undefined && { params }), token: String(this.nextToken++) }), 'utf8');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`baresip did not answer "${command}" within ${timeoutMs} ms:\n${this.output()}`)), timeoutMs);
      this.responses.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      socket.write(Buffer.concat([Buffer.from(`${json.length}:`, 'latin1'), json, Buffer.from(',', 'latin1')]));
    });
  }

  /** Places a call (menu's `dial`); resolves once baresip accepted the command. */
  async dial(uri: string): Promise<void> {
    const r = await this.command('dial', uri);
    if (!r.ok) throw new Error(`baresip dial ${uri} failed: ${r.data ?? ''}\n${this.output()}`);
  }

  /** Hangs up the current call. */
  async hangup(): Promise<void> {
    const r = await this.command('hangup');
    if (!r.ok) throw new Error(`baresip hangup failed: ${r.data ?? ''}`);
  }

  /**
   * Starts a new chapter before a call: moves the recordings made so far into `rec/before-N/` (so
   * that `decoded()`, `recent()` and `until()` see only the next call's), and returns how many
   * events have arrived so far: pass it as `from` to wait for events of the next call only.
   * (sndfile names its files by the second, so a call that starts in the second the previous one
   * ended would otherwise write over the previous call's file.)
   */
  mark(): number {
    const files = readdirSync(this.recordingDir).filter((f) => f.endsWith('.wav'));
    if (files.length > 0) {
      const archive = join(this.recordingDir, `before-${String(this.archived++)}`);
      mkdirSync(archive);
      for (const f of files) renameSync(join(this.recordingDir, f), join(archive, f));
    }
    this.layout = undefined;
    return this.events.length;
  }

  /** Resolves with the first event from index `from` on (past or future) that passes `test`. */
  waitForEvent(test: (e: BaresipEvent) => boolean, what: string, timeoutMs = 10_000, from = 0): Promise<BaresipEvent> {
    const seen = this.events.slice(from).find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new Error(
            `timed out waiting for baresip ${what}; events: ${JSON.stringify(this.events.map((e) => `${e.type} ${e.direction ?? ''} ${e.param ?? ''}`))}\n${this.output()}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        test,
        resolve: (e: BaresipEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /**
   * An inbound call arrived: its first event with direction "incoming". (With answermode=auto,
   * baresip 1.0 answers at once and never emits CALL_INCOMING: the first events of such a call
   * are CALL_REMOTE_SDP "offer", CALL_LOCAL_SDP "answer", CALL_ESTABLISHED.)
   */
  waitForCall(timeoutMs = 10_000, from = 0): Promise<BaresipEvent> {
    return this.waitForEvent((e) => e.direction === 'incoming', 'an incoming call', timeoutMs, from);
  }

  /** The call is up (CALL_ESTABLISHED), either direction. */
  established(timeoutMs = 10_000, from = 0): Promise<BaresipEvent> {
    return this.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'CALL_ESTABLISHED', timeoutMs, from);
  }

  /** The call ended (CALL_CLOSED; `param` holds the reason). */
  closed(timeoutMs = 10_000, from = 0): Promise<BaresipEvent> {
    return this.waitForEvent((e) => e.type === 'CALL_CLOSED', 'CALL_CLOSED', timeoutMs, from);
  }

  /** The newest decoded-audio WAV sndfile wrote (one per call) since the last `mark()`, or undefined before any. */
  recordedWav(): string | undefined {
    const files = readdirSync(this.recordingDir)
      .filter((f) => f.endsWith('-dec.wav'))
      .map((f) => join(this.recordingDir, f));
    files.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
    return files.at(-1);
  }

  /** The decoded audio of the newest call so far (channel 0), or undefined before any. */
  decoded(): DecodedAudio | undefined {
    return this.read(Infinity);
  }

  /** The last `ms` of decoded audio (channel 0); empty before any. */
  recent(ms: number): Int16Array {
    return this.read(ms)?.samples ?? new Int16Array(0);
  }

  /** The decoder's sample rate (the codec's: 8000, 16000 or 48000), once a call has audio. */
  get sampleRate(): number | undefined {
    return this.read(0)?.sampleRate;
  }

  private read(ms: number): DecodedAudio | undefined {
    const path = this.recordedWav();
    if (path === undefined) return undefined;
    if (this.layout?.path !== path) {
      const layout = wavLayout(path);
      if (!layout) return undefined;
      this.layout = { path, layout };
    }
    const { sampleRate, channels, dataOffset } = this.layout.layout;
    const frameBytes = 2 * channels;
    const size = statSync(path).size;
    const frames = Math.floor((size - dataOffset) / frameBytes);
    const wanted = Number.isFinite(ms) ? Math.min(frames, Math.floor((ms * sampleRate) / 1000)) : frames;
    const buf = Buffer.alloc(wanted * frameBytes);
    if (wanted > 0) {
      const fd = openSync(path, 'r');
      try {
        readSync(fd, buf, 0, buf.length, dataOffset + (frames - wanted) * frameBytes);
      } finally {
        closeSync(fd);
      }
    }
    const samples = new Int16Array(wanted);
    for (let i = 0; i < wanted; i++) samples[i] = buf.readInt16LE(i * frameBytes);
    return { path, sampleRate, channels, samples };
  }

  /**
   * Waits until the last half second of decoded audio passes `check`, looking again every 100 ms
   * (and once more audio has been decoded): a single window can dip on a loaded machine.
   */
  async until(check: (lastHalfSecond: Int16Array, sampleRate: number) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const audio = this.read(500);
      if (audio && audio.samples.length >= audio.sampleRate / 4 && check(audio.samples, audio.sampleRate)) return;
      if (this.exitCode !== undefined) throw new Error(`baresip exited (${String(this.exitCode)}) while waiting for ${what}:\n${this.output()}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what} (baresip decoded ${audio?.samples.length ?? 0} samples recently)\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops baresip (SIGTERM, SIGKILL after 5 s), waits for it to exit and removes its folder. */
  async close(): Promise<void> {
    this.control?.destroy();
    this.control = undefined;
    if (this.exitCode === undefined) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(killer);
    }
    if (process.env.LEGWAY_TEST_KEEP_BARESIP === undefined) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts baresip as a scripted peer (see the file's comment); close it with `close()`. */
export function startBaresip(options: BaresipOptions): Promise<Baresip> {
  return Baresip.start(options);
}
