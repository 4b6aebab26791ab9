/** A DTMF key from a SIP INFO body: `application/dtmf-relay` (Signal=, Duration=) or `application/dtmf`. */
export function dtmfFromInfo(contentType: string | undefined, body: string): { digit: string; durationMs: number } | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  let signal: string | undefined;
  let duration = 100;
  if (type === 'application/dtmf-relay') {
    for (const line of body.split(/\r?\n/)) {
      const [key, value] = line.split('=').map((s) => s.trim());
      if (key?.toLowerCase() === 'signal') signal = value;
      if (key?.toLowerCase() === 'duration' && value !== undefined && /^\d{1,6}$/.test(value)) duration = Number(value);
    }
  } else if (type === 'application/dtmf') {
    signal = body.trim();
  }
  if (signal === undefined) return undefined;
  const digit = signal === '10' ? '*' : signal === '11' ? '#' : signal.toUpperCase();
  return /^[0-9*#A-D]$/.test(digit) ? { digit, durationMs: Math.min(duration, 60_000) } : undefined;
}
