// A CommonJS helper that requires a host module.
module.exports = require("child_process");
