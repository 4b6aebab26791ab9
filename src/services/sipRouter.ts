import { z } from 'zod';
import { LegwayError } from '../domain/errors.js';

/** Where a call goes, from a static route or the application's NCCO. */
export interface Route {
  conversation: string;
  mute: boolean;
  /** Leg ids this call may hear, and that may hear it (NCCO `canHear`, `canSpeak`). */
  canHear?: string[] | undefined;
  canSpeak?: string[] | undefined;
}

/** The NCCO `answer_url` answers with: its first action must be `conversation`. */
const ncco = z
  .array(
    z.looseObject({
      action: z.string(),
      name: z.string().min(1).max(200).optional(),
      mute: z.boolean().optional(),
      canHear: z.array(z.string().max(200)).max(100).optional(),
      canSpeak: z.array(z.string().max(200)).max(100).optional(),
    }),
  )
  .min(1)
  .max(20);

/**
 * Where an inbound SIP call goes: a static route for the dialled user (or `*`), else the
 * application's answer to `answer_url` (an NCCO whose first action is `conversation`).
 */
export class SipRouter {
  constructor(
    private readonly options: {
      routes: readonly { user: string; conversation: string }[];
      answerUrl: string | undefined;
      askAnswerUrl: (url: string, body: object, signal: AbortSignal) => Promise<unknown>;
    },
  ) {}

  /** Static routes first (the dialled user, then `*`), then `answer_url`; no route is a 404. */
  async route(dialled: string, details: { from: string; to: string; call_id: string; leg_id: string }, signal: AbortSignal): Promise<Route> {
    const match = this.options.routes.find((r) => r.user === dialled) ?? this.options.routes.find((r) => r.user === '*');
    if (match) return { conversation: match.conversation, mute: false };
    if (this.options.answerUrl === undefined) throw new LegwayError('NotFound', `no route for ${dialled}`);
    let answer: unknown;
    try {
      answer = await this.options.askAnswerUrl(this.options.answerUrl, details, signal);
    } catch {
      throw new LegwayError('Unavailable', 'answer_url did not answer');
    }
    const parsed = ncco.safeParse(answer);
    const first = parsed.success ? parsed.data[0] : undefined;
    if (first?.action !== 'conversation' || first.name === undefined) throw new LegwayError('Unavailable', 'answer_url answered no conversation action');
    return { conversation: first.name, mute: first.mute ?? false, canHear: first.canHear, canSpeak: first.canSpeak };
  }
}
