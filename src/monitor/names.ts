// The host and service names a pair is reported under, from the settings'
// templates ({fingerprint} {shost} {szfs} {dhost} {dzfs} {hostname}); a
// {dhost} of localhost becomes this machine's short host name.
// Shared by the emitters (send_nsca, Icinga API) and the generated service
// definitions, so the names a monitor expects and the names sent never differ.
import { hostname } from 'node:os';
import type { Endpoint, Pair } from '../config/pairs.js';

export interface Template {
  host: string;
  service: string;
}

/** os.hostname() up to the first dot: what Nagios/Icinga host objects are usually called */
export function shortHostname(full: string = hostname()): string {
  return full.split('.')[0] || full;
}

/** a local end (omitted host or localhost) is this machine: "localhost" means nothing on a monitoring server */
function reportedHost(e: Endpoint, shortName: string): string {
  return e.local ? shortName : e.host;
}

export function renderTemplate(template: string, pair: Pair, shortHostname: string): string {
  const fields: Record<string, string> = {
    fingerprint: pair.fingerprint,
    shost: reportedHost(pair.source, shortHostname),
    szfs: pair.source.dataset,
    dhost: reportedHost(pair.destination, shortHostname),
    dzfs: pair.destination.dataset,
    hostname: shortHostname,
  };
  // one pass, so a value containing "{...}" is never expanded again; unknown
  // placeholders are refused when the settings are read, so they stay as written
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => fields[name] ?? whole);
}

export function reportedNames(t: Template, pair: Pair, shortHostname: string): { host: string; service: string } {
  return { host: renderTemplate(t.host, pair, shortHostname), service: renderTemplate(t.service, pair, shortHostname) };
}
