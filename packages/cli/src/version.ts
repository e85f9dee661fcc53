declare const __ANTI_OOM_CLI_VERSION__: string | undefined;

/** The package version, put in by the build; sources run by tests say `0.0.0-dev`. */
export const VERSION: string = typeof __ANTI_OOM_CLI_VERSION__ === 'string' ? __ANTI_OOM_CLI_VERSION__ : '0.0.0-dev';
