/** The Docker Compose CLI plugin (`docker compose`). */
import type { Recipe } from '../recipe.js';

export const dockerCompose: Recipe = {
  // The bakery's name (docker-compose.sysext): file names, extension-release.docker-compose and
  // sysupdate patterns follow it. docker_compose is what this recipe was called before.
  name: 'docker-compose',
  aliases: ['docker_compose'],
  description: 'the docker compose CLI plugin',
  arches: { 'x86-64': 'x86_64', arm64: 'aarch64' },
  os: '_any',
  reload: false,
  versionPattern: /^\d+\.\d+\.\d+$/,
  versionExample: '2.29.7',
  source: import.meta.url,
  downloads({ version, upstreamArch }) {
    const url = `https://github.com/docker/compose/releases/download/v${version}/docker-compose-linux-${upstreamArch}`;
    return [{ id: 'compose', url, checksum: { url: `${url}.sha256`, format: 'sha256sum' } }];
  },
  async install(ctx) {
    // The docker CLI looks for plugins in /usr/local/lib/docker/cli-plugins (among others).
    await ctx.installFile(ctx.file('compose'), 'usr/local/lib/docker/cli-plugins/docker-compose', 0o755);
  },
};
