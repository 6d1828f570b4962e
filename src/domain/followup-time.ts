/**
 * Wall-clock arithmetic in an IANA time zone, with Intl only (no time zone data of our own), for follow-up due
 * times. Invariants:
 * - A local date-time that does not exist (the hour skipped when clocks go forward) maps to the instant the same
 *   number of minutes after the jump: 02:30 on a day that goes from 02:00 to 03:00 is 03:30.
 * - A local date-time that exists twice (the hour repeated when clocks go back) maps to its first occurrence.
 * - Both rules assume transitions are more than 12 hours apart, which holds for every zone in the tz database.
 */

export interface LocalDateTime {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
}

export interface ZonedParts extends LocalDateTime {
  second: number;
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall-clock reading of an instant in `timeZone`. */
export function zonedParts(instant: Date | number, timeZone: string): ZonedParts {
  const ms = typeof instant === 'number' ? instant : instant.getTime();
  const values: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(ms)) {
    if (part.type !== 'literal') values[part.type] = Number(part.value);
  }
  const year = values.year!;
  const month = values.month!;
  const day = values.day!;
  return {
    year,
    month,
    day,
    hour: values.hour! % 24,
    minute: values.minute!,
    second: values.second!,
    weekday: isoWeekday(year, month, day),
  };
}

/** ISO weekday of a calendar date (1 = Monday … 7 = Sunday). */
export function isoWeekday(year: number, month: number, day: number): number {
  const d = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return d === 0 ? 7 : d;
}

/** Milliseconds to add to UTC to get the wall clock of `timeZone` at `ms`. */
function offsetAt(ms: number, timeZone: string): number {
  const p = zonedParts(ms, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The instant a wall-clock reading in `timeZone` stands for (see the header for gaps and overlaps). */
export function zonedToInstant(local: LocalDateTime, timeZone: string): Date {
  const naive = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute);
  const before = offsetAt(naive - 12 * 3_600_000, timeZone);
  const after = offsetAt(naive + 12 * 3_600_000, timeZone);
  const candidates = [naive - before, naive - after].filter(
    (t, i) => offsetAt(t, timeZone) === (i === 0 ? before : after),
  );
  if (candidates.length > 0) return new Date(Math.min(...candidates));
  // A skipped wall-clock time: read it with the offset in force before the jump, which lands after it.
  return new Date(naive - before);
}

/** A calendar date plus `days` (negative allowed), as a plain date. */
export function addCalendarDays(
  date: { year: number; month: number; day: number },
  days: number,
): { year: number; month: number; day: number } {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** `YYYY-MM-DD` of a calendar date. */
export function isoDate(date: { year: number; month: number; day: number }): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.year, 4)}-${pad(date.month)}-${pad(date.day)}`;
}
