import { describe, expect, it } from 'vitest';
import { nextMemberState } from '../../machines/member.machine.js';

describe('member machine', () => {
  it.each([
    ['none', 'INVITE', 'invited'],
    ['none', 'JOIN', 'joined'],
    ['invited', 'JOIN', 'joined'],
    ['invited', 'LEAVE', 'left'],
    ['joined', 'LEAVE', 'left'],
  ] as const)('%s --%s--> %s', (from, command, to) => {
    expect(nextMemberState(from, command)).toBe(to);
  });

  it.each([
    ['none', 'LEAVE'],
    ['invited', 'INVITE'],
    ['joined', 'JOIN'],
    ['joined', 'INVITE'],
    ['left', 'JOIN'],
    ['left', 'LEAVE'],
    ['left', 'INVITE'],
  ] as const)('refuses %s --%s--> (no such move)', (from, command) => {
    expect(nextMemberState(from, command)).toBeUndefined();
  });
});
