/**
 * The administrators' screen for presence group rules (the seed's privilege service): groups of people,
 * and rules "members of this group may not see the status of members of that group" (they see
 * Unknown). Every change is saved at once through the presence-router's admin routes and the screen
 * shows what the server answered.
 */
import { useEffect, useState } from 'react';
import { presenceAdmin } from '../api/endpoints.ts';
import type { GroupPolicy, GroupRule } from '../api/types.ts';
import { useI18n } from '../i18n/index.tsx';
import { ErrorNote, Field, useAction } from './common.tsx';
import { useChat } from './context.tsx';
import { UserPicker } from './dialogs.tsx';
import { NameSelect, PersonList, SavedNote } from './forms.tsx';

const groupName = /^[A-Za-z0-9_.-]{1,64}$/;

export function PresenceGroups() {
  const { t } = useI18n();
  const known = useChat((s) => s.names);
  const [policy, setPolicy] = useState<GroupPolicy>();
  const [names, setNames] = useState<Record<string, string>>({});
  const [loadError, setLoadError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const [newGroup, setNewGroup] = useState('');
  const [viewer, setViewer] = useState('');
  const [target, setTarget] = useState('');
  useEffect(() => {
    presenceAdmin.groups().then(setPolicy, (e: unknown) => setLoadError(e));
  }, []);
  const { busy, error, run } = useAction(async (change: () => Promise<GroupPolicy>) => {
    setSaved(false);
    setPolicy(await change());
    setSaved(true);
  });
  const nameOf = (userId: string) => names[userId] ?? known[userId] ?? userId;
  if (!policy) {
    return loadError ? <ErrorNote error={loadError} /> : <p className="muted">{t('common.loading')}</p>;
  }
  const groups = policy.groups;
  const setMembers = (name: string, members: string[]) => run(() => presenceAdmin.setGroup(name, members));
  const setRules = (rules: GroupRule[]) => run(() => presenceAdmin.setRules(rules));
  const groupNames = groups.map((g) => g.name);
  const ruleExists = policy.rules.some((r) => r.viewerGroup === viewer && r.targetGroup === target);
  return (
    <div className="stack">
      <ErrorNote error={error} />
      <SavedNote saved={saved} />
      <p className="muted small">{t('groups.hint')}</p>

      <section className="stack" aria-labelledby="groups-heading">
        <h2 id="groups-heading" className="privacy-heading">
          {t('groups.title')}
        </h2>
        {groups.length === 0 && <p className="muted small">{t('groups.none')}</p>}
        {groups.map((group) => (
          <section
            key={group.name}
            className="group-card stack"
            aria-label={t('groups.group', { name: group.name })}
          >
            <div className="section-head">
              <h3>{group.name}</h3>
              <button
                type="button"
                className="button button-ghost"
                disabled={busy}
                onClick={() => void run(() => presenceAdmin.deleteGroup(group.name))}
              >
                {t('groups.delete', { name: group.name })}
              </button>
            </div>
            {group.members.length === 0 && <p className="muted small">{t('groups.empty')}</p>}
            <PersonList
              testId={`group-${group.name}`}
              userIds={group.members}
              nameOf={nameOf}
              busy={busy}
              removeLabel={(name) => t('groups.removeMember', { name, group: group.name })}
              onRemove={(userId) =>
                void setMembers(
                  group.name,
                  group.members.filter((u) => u !== userId),
                )
              }
            />
            <UserPicker
              label={t('groups.add', { name: group.name })}
              busy={busy}
              autoFocus={false}
              onPick={(u) => {
                setNames((n) => ({ ...n, [u.userId]: u.displayName }));
                if (!group.members.includes(u.userId))
                  void setMembers(group.name, [...group.members, u.userId]);
              }}
            />
          </section>
        ))}
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            const name = newGroup.trim();
            if (!groupName.test(name)) return;
            void run(async () => {
              const answer = await presenceAdmin.setGroup(name, []);
              setNewGroup('');
              return answer;
            });
          }}
        >
          <Field
            label={t('groups.newName')}
            hint={t('groups.nameHint')}
            value={newGroup}
            maxLength={64}
            onChange={(e) => setNewGroup(e.target.value)}
          />
          <button className="button button-primary" disabled={busy || !groupName.test(newGroup.trim())}>
            {t('groups.create')}
          </button>
        </form>
      </section>

      <section className="stack" aria-labelledby="rules-heading">
        <h2 id="rules-heading" className="privacy-heading">
          {t('groups.rules')}
        </h2>
        {policy.rules.length === 0 && <p className="muted small">{t('groups.noRules')}</p>}
        <ul className="privacy-list" data-testid="group-rules">
          {policy.rules.map((rule) => {
            const text = t('groups.rule', { viewer: rule.viewerGroup, target: rule.targetGroup });
            return (
              <li key={`${rule.viewerGroup}→${rule.targetGroup}`} className="privacy-person">
                <span className="privacy-name">{text}</span>
                <button
                  type="button"
                  className="button button-ghost"
                  disabled={busy}
                  aria-label={t('groups.removeRule', { rule: text })}
                  onClick={() => void setRules(policy.rules.filter((r) => r !== rule))}
                >
                  ✕
                </button>
              </li>
            );
          })}
        </ul>
        {groups.length > 0 && (
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (!viewer || !target || ruleExists) return;
              void setRules([...policy.rules, { viewerGroup: viewer, targetGroup: target }]);
            }}
          >
            <NameSelect label={t('groups.viewers')} value={viewer} names={groupNames} onChange={setViewer} />
            <NameSelect label={t('groups.targets')} value={target} names={groupNames} onChange={setTarget} />
            <button className="button button-primary" disabled={busy || !viewer || !target || ruleExists}>
              {t('groups.addRule')}
            </button>
          </form>
        )}
      </section>
    </div>
  );
}
