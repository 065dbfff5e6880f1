/**
 * `--user USER[:GROUP]` resolved as podman and su do, in the guest's own /etc/passwd and /etc/group:
 * a name or a number for each; a number need not be listed (its group is then 0, HOME /).
 * Supplementary groups are those that list the user by name.
 */

export interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups, the primary one first. */
  groups: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const isId = (text: string) => /^\d+$/.test(text) && Number(text) < 2 ** 32 - 1;

/** The well-formed lines of a colon-separated file with at least `fields` fields. */
function records(text: string, fields: number): string[][] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((record) => record.length >= fields && record[0] !== '' && !record[0]!.startsWith('#'));
}

export function parsePasswd(text: string): PasswdEntry[] {
  return records(text, 7)
    .filter((r) => isId(r[2]!) && isId(r[3]!))
    .map((r) => ({ name: r[0]!, uid: Number(r[2]), gid: Number(r[3]), home: r[5]! }));
}

export function parseGroup(text: string): GroupEntry[] {
  return records(text, 4)
    .filter((r) => isId(r[2]!))
    .map((r) => ({ name: r[0]!, gid: Number(r[2]), members: r[3]!.split(',').filter((m) => m !== '') }));
}

export class UnknownUserError extends Error {}

export function resolveIdentity(spec: string, passwdText: string, groupText: string): Identity {
  const [userPart, groupPart, ...extra] = spec.split(':');
  if (!userPart || groupPart === '' || extra.length > 0) throw new UnknownUserError(`--user ${spec}: expected USER or USER:GROUP`);
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const user = passwd.find((entry) => (isId(userPart) ? entry.uid === Number(userPart) : entry.name === userPart));
  if (!user && !isId(userPart)) throw new UnknownUserError(`user ${userPart} is not in the guest's /etc/passwd`);
  let gid = user?.gid ?? 0;
  if (groupPart !== undefined) {
    const group = groups.find((entry) => (isId(groupPart) ? entry.gid === Number(groupPart) : entry.name === groupPart));
    if (!group && !isId(groupPart)) throw new UnknownUserError(`group ${groupPart} is not in the guest's /etc/group`);
    gid = group?.gid ?? Number(groupPart);
  }
  const supplementary = user ? groups.filter((group) => group.members.includes(user.name)).map((group) => group.gid) : [];
  return { uid: user?.uid ?? Number(userPart), gid, groups: [...new Set([gid, ...supplementary])], home: user?.home || '/' };
}
