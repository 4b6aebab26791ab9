import type { z } from 'zod';
import { fail, type ErrorCode } from './errors.js';

/** One validation problem, in a form safe to return to a client. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Turns zod issues into a short list of `{ path, message }` (at most 20, so a hostile payload cannot grow the reply). */
export function describeIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.slice(0, 20).map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
}

/** Parses `data` with `schema` or throws a LegwayError carrying the issues. */
export function parseOrThrow<S extends z.ZodType>(schema: S, data: unknown, what: string, code: ErrorCode = 'ValidationFailed'): z.infer<S> {
  const result = schema.safeParse(data);
  if (!result.success) {
    const issues = describeIssues(result.error);
    const first = issues[0];
    throw fail(code, `invalid ${what}${first ? `: ${first.path}: ${first.message}` : ''}`, issues);
  }
  return result.data;
}
