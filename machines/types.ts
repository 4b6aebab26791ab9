/** Types shared by the machines; kept here so that machines/ needs nothing from src/. */
export type MemberState = 'invited' | 'joined' | 'left';
