/** Parses a duration such as `90s`, `15m`, `24h`, `7d` (or plain seconds) into seconds; undefined when not one (or over 366 days). */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const n = Number(match[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = n * unit;
  return seconds > 0 && seconds <= 366 * 86400 ? seconds : undefined;
}
