// One Host object per distinct remote target and run, all sharing one ssh
// control directory, so each host costs one ssh handshake per run.
import type { Endpoint, Pair } from '../config/pairs.js';
import type { Settings } from '../config/settings.js';
import { sshAddress } from '../domain/names.js';
import { LocalHost, SshControl, SshHost, type Host, type SshSettings } from './host.js';

export class Hosts {
  private readonly control: SshControl;
  private readonly local = new LocalHost();
  private readonly remote = new Map<string, SshHost>();
  private readonly ssh: SshSettings;

  /** `persist`: seconds an idle ssh master stays up (ControlPersist) */
  constructor(settings: Settings, persist?: number) {
    this.control = new SshControl(persist);
    this.ssh = {
      knownHosts: settings.ssh.known_hosts,
      connectTimeout: settings.ssh.connect_timeout,
      options: [],
    };
  }

  for(endpoint: Endpoint, pair: Pair): Host {
    if (endpoint.local) return this.local;
    const o = pair.options;
    const key = [endpoint.host, o.sshport ?? '', o.sshuser ?? '', o.sshkey ?? ''].join('\0');
    let h = this.remote.get(key);
    if (!h) {
      h = new SshHost(
        { host: sshAddress(endpoint.host), port: o.sshport, user: o.sshuser, key: o.sshkey },
        this.ssh,
        this.control,
      );
      this.remote.set(key, h);
    }
    return h;
  }

  /** how a host is named in messages: user@host:port where given */
  static describe(endpoint: Endpoint, pair: Pair): string {
    if (endpoint.local) return 'localhost';
    const o = pair.options;
    return `${o.sshuser ? `${o.sshuser}@` : ''}${endpoint.host}${o.sshport ? ` port ${o.sshport}` : ''}`;
  }

  /** check the master connections of a pair's remote hosts and reopen those that died: the hosts reopened */
  async revive(pair: Pair): Promise<string[]> {
    const hosts = new Set([pair.source, pair.destination].filter((e) => !e.local).map((e) => this.for(e, pair) as SshHost));
    const reopened: string[] = [];
    await Promise.all(
      [...hosts].map(async (h) => {
        if ((await h.revive()) === 'reopened') reopened.push(h.name);
      }),
    );
    return reopened;
  }

  async close(): Promise<void> {
    await this.control.close();
  }
}
