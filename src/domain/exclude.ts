// exclude= of a recursive pair: globs of children below the source. A glob
// is matched against a child's name relative to the source ("vm/web/swap");
// `*` and `?` stay within one name, `**` spans any number of names
// (including none, so "**/cache" also matches a child "cache"). A child
// that matches is excluded with everything below it, as zfs send -X does.

function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // "**/" is any run of whole names, "**" at the end anything
      if (glob[i + 2] === '/') {
        re += '(?:[^/]+/)*';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface Exclusion {
  /** is the dataset `name` (under `root`) excluded, by itself or by an ancestor below root? */
  excludes(root: string, name: string): boolean;
}

export function exclusion(globs: readonly string[] | undefined): Exclusion {
  const res = (globs ?? []).map(globRegExp);
  return {
    excludes(root, name) {
      if (res.length === 0 || name === root || !name.startsWith(`${root}/`)) return false;
      const parts = name.slice(root.length + 1).split('/');
      for (let n = 1; n <= parts.length; n++) {
        const rel = parts.slice(0, n).join('/');
        if (res.some((r) => r.test(rel))) return true;
      }
      return false;
    },
  };
}

/** the map without the excluded datasets (keyed by dataset name under root) */
export function withoutExcluded<V>(map: ReadonlyMap<string, V>, root: string, ex: Exclusion): Map<string, V> {
  return new Map([...map].filter(([name]) => !ex.excludes(root, name)));
}

/** the top-most excluded datasets among `names` (their descendants go with them) */
export function excludedTops(names: Iterable<string>, root: string, ex: Exclusion): string[] {
  const out = [...names].filter((n) => ex.excludes(root, n)).sort();
  return out.filter((n) => !out.some((t) => n.startsWith(`${t}/`)));
}
