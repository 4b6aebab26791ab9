/** Roles of the tokens (README, Tokens and roles): `application` = the customer's backend, `operator` = user + operator powers. */
export const ROLES = ['user', 'operator', 'application'] as const;
export type Role = (typeof ROLES)[number];

/** Who is making a request, as established from a verified token. */
export interface Principal {
  role: Role;
  /** The token's subject: the user name for users and operators. */
  sub: string;
  /** Conversation names or ids this user may join without an invitation (`*` = any). */
  join: readonly string[];
  /** The token's id, so that revoking it can end what it opened. */
  jti?: string;
}

/** True for principals that see every conversation (the application and operators). */
export function seesAll(p: Principal): boolean {
  return p.role === 'application' || p.role === 'operator';
}
