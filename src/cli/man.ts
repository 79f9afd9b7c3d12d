import type { Command } from 'commander';
import { defaultText, optionSynopsis, plainHelp, settingsFor } from '../settings.js';
import { VERSION } from '../version.js';

/**
 * flatbake(1) in roff (man(7) macros), made from the commander tree and the settings
 * declarations: `flatbake man` prints it, `npm run docs` writes man/flatbake.1, a test
 * compares the two and has groff check the markup.
 */
export function manPage(program: Command): string {
  const out: string[] = [
    '.\\" generated from src/settings.ts and the command tree by `npm run docs`; do not edit',
    `.TH FLATBAKE 1 "" "flatbake ${VERSION}" "User Commands"`,
    '.SH NAME',
    `flatbake \\- ${escape(program.description())}`,
    '.SH SYNOPSIS',
    '.B flatbake',
    '[\\fBbake\\fR] [\\fIoptions\\fR] \\fINAME\\fR:\\fIFILE\\fR ...',
    '.br',
    '.B flatbake',
    '\\fICOMMAND\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    escape(
      'For each NAME:FILE, FILE is copied into the image (default root:/opt/extensions/), /etc/extensions/NAME.raw links to it, and NAME.conf, if present, becomes its systemd-sysupdate config. The release image is downloaded, its OpenPGP signature checked, and the result written as flatcar_production_image.bin with flatbake-manifest.json, plus each --vendor image.',
    ),
    '.SH OPTIONS',
    'The options of the bake (the default command). Every one but \\fB\\-\\-config\\fR is also a key of the \\fB\\-\\-config\\fR file.',
  ];
  for (const setting of settingsFor('bake')) {
    out.push('.TP', `.B ${escape(optionSynopsis(setting))}`, `${escape(plainHelp(setting.help))} Default: ${escape(plainHelp(defaultText(setting)))}.`);
  }
  out.push('.SH COMMANDS');
  const visit = (command: Command, prefix: string) => {
    for (const sub of command.commands) {
      if (sub.name() === 'help') continue;
      const name = `${prefix}${sub.name()}`;
      if (sub.commands.length > 0) {
        visit(sub, `${name} `);
        continue;
      }
      const args = sub.registeredArguments.map((a) => (a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`));
      out.push('.TP', `.B flatbake ${escape([name, ...args].join(' '))}`, escape(sub.description()));
      const options = sub.options.filter((o) => !o.hidden && name !== 'bake').map((o) => o.flags);
      if (options.length) out.push('.br', `Options: ${escape(options.join(', '))}.`);
    }
  };
  visit(program, '');
  out.push(
    '.SH EXIT STATUS',
    '0 success; 1 failure (one error line on stderr, then a hint); 2 usage error (unknown command, option, vendor or recipe, bad value, bad config file); 130 or 143 when interrupted.',
    '.SH ENVIRONMENT',
    '.TP',
    '.B XDG_CACHE_HOME',
    'The cache is $XDG_CACHE_HOME/flatbake (else ~/.cache/flatbake) unless \\fB\\-\\-cache\\-dir\\fR says otherwise.',
    '.TP',
    '.B FLATBAKE_DEBUG',
    'Set to 1 to print the stack trace of an unexpected error.',
    '.TP',
    '.B FLATBAKE_REGISTRY_USER\\fR, \\fBFLATBAKE_REGISTRY_PASSWORD',
    'Credentials of \\fBoci\\-rootfs\\fR.',
    '.SH EXAMPLES',
    '.nf',
    'flatbake \\-\\-fetch wasmtime:wasmtime\\-24.0.0\\-x86\\-64.raw',
    'flatbake \\-\\-config bake.yaml \\-\\-release stable',
    'flatbake completion bash > /etc/bash_completion.d/flatbake',
    '.fi',
    '.SH SEE ALSO',
    '.BR systemd\\-sysext (8),',
    '.BR systemd\\-sysupdate (8),',
    '.BR sysupdate.d (5)',
  );
  return `${out.join('\n')}\n`;
}

/** Text as roff reads it: backslashes and dashes escaped, no line starting with a control character. */
function escape(text: string): string {
  const escaped = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}
