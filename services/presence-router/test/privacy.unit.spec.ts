/**
 * Every combination of the target's mode, the viewer's place on the target's list, and the admins'
 * group rules, against a table written out by hand; and the status each combination is told: the real
 * one, or 8 whatever the real one is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allPresenceStatuses, type PrivacyMode } from '@veche/contracts';
import {
  groupRuleSet,
  maySee,
  noGroupRules,
  visibleStatus,
  type GroupRuleSet,
} from '../src/domain/privacy.ts';

const viewer = 'viewer';
const target = 'target';
const modes: PrivacyMode[] = ['everyone', 'blacklist', 'whitelist'];
type Listing = 'listed' | 'unlisted' | 'other-listed' | 'empty';
const listings: Listing[] = ['listed', 'unlisted', 'other-listed', 'empty'];

/** What the target's own list decides, by hand: may the viewer see? */
const byList: Record<PrivacyMode, Record<Listing, boolean>> = {
  everyone: { listed: true, unlisted: true, 'other-listed': true, empty: true },
  blacklist: { listed: false, unlisted: true, 'other-listed': true, empty: true },
  whitelist: { listed: true, unlisted: false, 'other-listed': false, empty: false },
};

const listFor = (listing: Listing): Set<string> => {
  switch (listing) {
    case 'listed':
      return new Set([viewer, 'someone']);
    case 'unlisted':
      return new Set(['someone']);
    case 'other-listed':
      return new Set(['viewer2', 'target']);
    case 'empty':
      return new Set();
  }
};

/** Group situations and whether they hide the target from the viewer (null: the list decides). */
const groupCases: { name: string; groups: GroupRuleSet; hides: boolean }[] = [
  { name: 'no groups', groups: noGroupRules, hides: false },
  {
    name: 'viewer’s group may not see target’s group',
    groups: groupRuleSet(
      [
        { name: 'staff', members: [viewer] },
        { name: 'board', members: [target] },
      ],
      [{ viewerGroup: 'staff', targetGroup: 'board' }],
    ),
    hides: true,
  },
  {
    name: 'the reverse rule only (target’s group may not see viewer’s)',
    groups: groupRuleSet(
      [
        { name: 'staff', members: [viewer] },
        { name: 'board', members: [target] },
      ],
      [{ viewerGroup: 'board', targetGroup: 'staff' }],
    ),
    hides: false,
  },
  {
    name: 'both in groups, no rule between them',
    groups: groupRuleSet(
      [
        { name: 'staff', members: [viewer] },
        { name: 'board', members: [target] },
      ],
      [],
    ),
    hides: false,
  },
  {
    name: 'rule exists but the target is not in the hidden group',
    groups: groupRuleSet(
      [
        { name: 'staff', members: [viewer] },
        { name: 'board', members: ['someone'] },
      ],
      [{ viewerGroup: 'staff', targetGroup: 'board' }],
    ),
    hides: false,
  },
  {
    name: 'rule exists but the viewer is not in the viewing group',
    groups: groupRuleSet(
      [
        { name: 'staff', members: ['someone'] },
        { name: 'board', members: [target] },
      ],
      [{ viewerGroup: 'staff', targetGroup: 'board' }],
    ),
    hides: false,
  },
  {
    name: 'viewer in two groups, one of them denied',
    groups: groupRuleSet(
      [
        { name: 'staff', members: [viewer] },
        { name: 'contractors', members: [viewer] },
        { name: 'board', members: [target] },
      ],
      [{ viewerGroup: 'contractors', targetGroup: 'board' }],
    ),
    hides: true,
  },
  {
    name: 'target in two groups, one of them hidden',
    groups: groupRuleSet(
      [
        { name: 'staff', members: [viewer] },
        { name: 'board', members: [target] },
        { name: 'finance', members: [target] },
      ],
      [{ viewerGroup: 'staff', targetGroup: 'finance' }],
    ),
    hides: true,
  },
  {
    name: 'viewer and target in the same group that may not see itself',
    groups: groupRuleSet(
      [{ name: 'quiet', members: [viewer, target] }],
      [{ viewerGroup: 'quiet', targetGroup: 'quiet' }],
    ),
    hides: true,
  },
];

describe('maySee: modes × lists × groups', () => {
  let combinations = 0;
  for (const mode of modes) {
    for (const listing of listings) {
      for (const groupCase of groupCases) {
        const expected = groupCase.hides ? false : byList[mode][listing];
        combinations++;
        it(`${mode}, viewer ${listing}, ${groupCase.name} → ${expected ? 'sees' : 'UNKNOWN'}`, () => {
          const rules = { mode, users: listFor(listing) };
          assert.equal(maySee(viewer, target, rules, groupCase.groups), expected);
          for (const status of allPresenceStatuses) {
            assert.equal(
              visibleStatus(status, viewer, target, rules, groupCase.groups),
              expected ? status : 8,
              `status ${status}`,
            );
          }
        });
        it(`${mode}, ${listing}, ${groupCase.name}: a user always sees themself`, () => {
          const rules = { mode, users: listFor(listing) };
          assert.equal(maySee(target, target, rules, groupCase.groups), true);
        });
      }
    }
  }
  it('covers every combination', () => {
    assert.equal(combinations, modes.length * listings.length * groupCases.length);
  });
});

describe('the answer gives no hint', () => {
  it('a hidden user is told as 8, the same as a user who chose 8', () => {
    const hidden = visibleStatus(1, viewer, target, { mode: 'whitelist', users: new Set() }, noGroupRules);
    const chose = visibleStatus(8, viewer, target, { mode: 'everyone', users: new Set() }, noGroupRules);
    assert.equal(hidden, chose);
  });
});
