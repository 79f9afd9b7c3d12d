export interface AuthChallenge {
  /** Lower case: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names lower case; values unquoted. */
  params: Record<string, string>;
}

export interface RegistryCredentials {
  username: string;
  password: string;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parse a `WWW-Authenticate` value into its challenges (RFC 9110 §11.6.1):
 * `Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`.
 * Several challenges may share one header (`Basic realm="x", Bearer realm="y"`).
 * Quoted values may contain commas and backslash escapes. Unparseable input
 * yields the challenges read before the trouble rather than throwing: the
 * caller then reports that no usable challenge was offered.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  const readBare = (): string => {
    const start = i;
    while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string | undefined => {
    // header[i] is the opening quote.
    i++;
    let out = '';
    while (i < n) {
      const c = header[i]!;
      if (c === '\\' && i + 1 < n) {
        out += header[i + 1];
        i += 2;
      } else if (c === '"') {
        i++;
        return out;
      } else {
        out += c;
        i++;
      }
    }
    return undefined; // unterminated
  };

  let current: AuthChallenge | undefined;
  // Right after a scheme, with no comma since: a bare word there is a token68 credential, not a new scheme.
  let afterScheme = false;
  while (i < n) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      afterScheme = false;
      continue;
    }
    const word = readToken();
    if (word === '') break;
    skipSpace();
    if (header[i] === '=') {
      if (current === undefined) break;
      let j = i;
      while (j < n && header[j] === '=') j++;
      let k = j;
      while (k < n && (header[k] === ' ' || header[k] === '\t')) k++;
      if (k >= n || header[k] === ',') {
        // `abc==`: a token68 with padding, nothing to take from it.
        i = j;
        afterScheme = false;
        continue;
      }
      if (j - i > 1) break;
      i++;
      skipSpace();
      // Unquoted values should be tokens; servers that put a bare URL there are read up to the next separator.
      const value = header[i] === '"' ? readQuoted() : readBare();
      if (value === undefined) break;
      current.params[word.toLowerCase()] = value;
      afterScheme = false;
      continue;
    }
    if (afterScheme) {
      afterScheme = false;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    challenges.push(current);
    afterScheme = true;
  }
  return challenges;
}

/** `FLATBAKE_REGISTRY_USER` / `FLATBAKE_REGISTRY_PASSWORD`, when both are set. */
export function credentialsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): RegistryCredentials | undefined {
  const username = env['FLATBAKE_REGISTRY_USER'];
  const password = env['FLATBAKE_REGISTRY_PASSWORD'];
  if (username === undefined || username === '' || password === undefined) return undefined;
  return { username, password };
}

export function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/** The URL of a bearer token request: the realm plus `service` and each `scope`. */
export function tokenUrl(challenge: AuthChallenge, scopes: readonly string[]): string {
  const realm = challenge.params['realm'];
  if (realm === undefined) throw new Error('bearer challenge without realm');
  const url = new URL(realm);
  const service = challenge.params['service'];
  if (service !== undefined) url.searchParams.set('service', service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  return url.href;
}
