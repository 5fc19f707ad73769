/**
 * A problem the user caused (a name that is not a domain, a config that does not fit, a device
 * that is not attached), said in one line; the control server sends its message to the CLI, which
 * prints it as `pvkit: <message>`.
 */
export class ToolstackError extends Error {}
