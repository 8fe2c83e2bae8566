// STUB: interface fixed by the lead; implementation by the monitoring helper.
// The host and service names a pair is reported under, from the settings'
// templates ({fingerprint} {shost} {szfs} {dhost} {dzfs} {hostname}); a
// {dhost} of localhost becomes this machine's short host name.
import type { Pair } from '../config/pairs.js';

export interface Template {
  host: string;
  service: string;
}

export function renderTemplate(template: string, pair: Pair, shortHostname: string): string {
  void template; void pair; void shortHostname;
  throw new Error('not implemented');
}

export function reportedNames(t: Template, pair: Pair, shortHostname: string): { host: string; service: string } {
  void t; void pair; void shortHostname;
  throw new Error('not implemented');
}
