/**
 * fabric-shim and fabric-contract-api log every decorator at "info" when they load, unless the
 * peer says otherwise through CORE_CHAINCODE_LOGGING_LEVEL. Imported before them: default to
 * warnings (an operator's setting wins).
 */
process.env.CORE_CHAINCODE_LOGGING_LEVEL = fabricLevel(process.env.CORE_CHAINCODE_LOGGING_LEVEL);

/**
 * Fabric's names for log levels. fabric-shim's setLevel writes winston's name ("fatal") back into
 * the variable, which its own reader then takes for "info": a child process would inherit that.
 */
function fabricLevel(value: string | undefined): string {
  const names: Record<string, string> = {
    fatal: 'CRITICAL',
    error: 'ERROR',
    warn: 'WARNING',
    info: 'INFO',
    debug: 'DEBUG',
  };
  const upper = value?.toUpperCase();
  if (upper && ['CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG'].includes(upper)) return upper;
  return (value && names[value]) ?? 'WARNING';
}

/**
 * Both also install process-wide handlers on load (winston's handleExceptions with
 * exitOnError: false, and an unhandledRejection logger) that log and swallow crashes. That suits
 * a chaincode process; inside our server it would hide a crash and leave a broken process
 * running. The embedded peer calls this to take them out again.
 */
export function removeFabricProcessHandlers(): void {
  for (const listener of process.listeners('uncaughtException')) {
    if (listener.name === 'bound _uncaughtException') process.off('uncaughtException', listener);
  }
  for (const listener of process.listeners('unhandledRejection')) {
    if (listener.name === 'loggerUnhandledRejectionFn') process.off('unhandledRejection', listener);
  }
}
