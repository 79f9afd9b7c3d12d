import os from 'node:os';
import path from 'node:path';
import { ownedPrefix, ownedTempDir } from './owner.js';

/**
 * Private gpg homes (GNUPGHOME / --homedir), made in one place so that they stay short. gpg-agent,
 * which gpg starts for key generation and signing, binds its sockets inside the home, and a unix
 * socket path must fit sun_path (108 bytes with the NUL, unix(7)): under a deep $TMPDIR (a test
 * run's, a CI job's) the bind fails and gpg says only "No agent running". (GnuPG puts the sockets
 * in /run/user/<uid>/gnupg instead when that exists; a root shell or a CI container has none.)
 * A home whose longest socket path would not fit goes in /tmp, which every Linux has.
 */
export const GPG_HOME_PREFIX = 'flatbake-gpg-';

/** The longest socket name GnuPG 2.2-2.4 binds in a home (S.gpg-agent, .extra, .ssh, S.dirmngr, S.keyboxd ...). */
const LONGEST_SOCKET = 'S.gpg-agent.browser';
/**
 * sun_path holds 108 bytes with the NUL, but GnuPG refuses a socket name whose length plus one
 * reaches 108 ("socket name ... is too long"): 106 bytes is the longest it binds.
 */
const SOCKET_NAME_MAX = 106;

/** Where gpg homes go for temp dir TMP: TMP itself when the sockets fit, else /tmp. */
export function gpgHomeParent(tmp = os.tmpdir()): string {
  const socket = path.join(tmp, `${ownedPrefix(GPG_HOME_PREFIX)}XXXXXX`, LONGEST_SOCKET);
  return Buffer.byteLength(socket) <= SOCKET_NAME_MAX ? tmp : '/tmp';
}

/** A fresh private gpg home (mode 0700, as gpg wants it), named for its owner (util/owner.ts). */
export function makeGpgHome(tmp = os.tmpdir()): Promise<string> {
  return ownedTempDir(gpgHomeParent(tmp), GPG_HOME_PREFIX);
}
